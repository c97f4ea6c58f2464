"""A plain-text table of a drift report (what ``DriftReport.summary()`` prints)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.monitoring.drift import DriftReport, FeatureDrift

HEADER = ("column", "kind", "test", "statistic", "p (Holm)", "PSI", "W/SD", "JS", "verdict")


def render_summary(report: DriftReport) -> str:
    verdict = "DRIFT" if report.drifted else "no drift"
    lines = [
        f"{verdict}: {len(report.drifted_features)} of {len(report.features)} columns drifted "
        f"({report.tested} tested; Holm at family-wise alpha={report.alpha:g}; "
        f"reference {report.reference_rows:,} rows, current {report.current_rows:,} rows)",
        "",
    ]
    rows = [HEADER, *(_row(f) for f in _ordered(report))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    if report.problems:
        lines += ["", "problems:", *(f"  - {p}" for p in report.problems)]
    return "\n".join(line.rstrip() for line in lines)


def _ordered(report: DriftReport) -> list[FeatureDrift]:
    def key(f: FeatureDrift) -> tuple[int, float, str]:
        p = f.p_adjusted if f.p_adjusted is not None else 2.0
        return (0 if f.drifted else 1, p, f.name)

    return sorted(report.features.values(), key=key)


def _row(f: FeatureDrift) -> tuple[str, ...]:
    verdict = "DRIFT" if f.drifted else ("ok" if f.status == "tested" else f.status)
    return (
        f.name,
        f.kind or "-",
        f.test or "-",
        _num(f.statistic),
        _num(f.p_adjusted),
        _num(f.psi),
        _num(f.wasserstein),
        _num(f.jensen_shannon),
        verdict,
    )


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3f}"
