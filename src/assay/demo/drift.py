"""Drift: a reference profile of the training images (``assay.monitoring.profile``),
logged as a ``profile`` artifact, then two windows checked against it with
``assay.monitoring.drift``: the test split as it is, and the same images with heavier ink
(what a new scanner or pen might bring)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import assay
from assay.demo.common import PROJECT, pixel_columns, quiet_settings, read_part

if TYPE_CHECKING:
    import pandas as pd

    from assay.monitoring import DriftReport

ARTIFACT = "digits-train-profile"
ALPHA = 0.01
INK = 1.1  # the drifted window: every pixel's ink times this, capped at full ink
TOP = 3


@dataclass(frozen=True)
class TopFeature:
    name: str
    p_value: float
    p_adjusted: float  # Holm-adjusted: the column drifted when this is <= alpha
    psi: float | None
    wasserstein: float | None  # in reference standard deviations


@dataclass(frozen=True, kw_only=True)
class WindowVerdict:
    name: str
    rows: int
    drifted: bool
    tested: int
    features_drifted: int
    top: list[TopFeature]


@dataclass(frozen=True)
class DriftResult:
    run_id: str
    profile: str  # the profile artifact's version
    reference_rows: int
    windows: list[WindowVerdict]

    def lines(self) -> list[str]:
        lines = [
            f"reference: profile of the {self.reference_rows} training images "
            "(64 pixels, ink 0 to 1),",
            f"  logged as {self.profile}; windows judged by Holm at alpha {ALPHA:g}",
        ]
        for w in self.windows:
            verdict = "DRIFT" if w.drifted else "no drift"
            lines.append(
                f"{w.name} ({w.rows}): {verdict}, "
                f"{w.features_drifted} of {w.tested} tested pixels drifted"
            )
            for f in w.top if w.drifted else w.top[:1]:
                psi = "-" if f.psi is None else f"{f.psi:.2f}"
                shift = "-" if f.wasserstein is None else f"{f.wasserstein:.2f}"
                lines.append(
                    f"  {'' if w.drifted else 'closest: '}{f.name:<8} p {_p(f.p_value)} "
                    f"(Holm {_p(f.p_adjusted)})  PSI {psi}  shift {shift} SD"
                )
        return lines


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def ink(frame: pd.DataFrame) -> pd.DataFrame:
    """The pixel columns as a fraction of full ink (0 to 1), the scale a model input
    usually has. As non-whole numbers they are compared by Kolmogorov-Smirnov (ties only
    make it conservative), which takes milliseconds; as 17 counts each they would be
    compared by chi-square tests, Monte Carlo ones on a window this small, which cost a
    tenth of a second or more per drifted column."""
    pixels = pixel_columns(frame)
    return frame[pixels].astype(float) / 16.0


def run_drift(
    dataset: str, uri: str | None = None, settings: assay.Settings | None = None
) -> DriftResult:
    """A "monitor" run: profile the training images, log the profile, check two windows."""
    from assay.monitoring import Profile, drift, profile

    with assay.init(
        project=PROJECT,
        job_type="monitor",
        tags=["demo"],
        config={"alpha": ALPHA, "heavier_ink": INK},
        uri=uri,
        settings=settings or quiet_settings(),
    ) as run:
        train = ink(read_part(run, dataset, "train"))
        test = ink(read_part(run, dataset, "test"))
        with tempfile.TemporaryDirectory(prefix="assay-demo-") as tmp:
            path = Path(tmp) / "train.profile"
            path.write_bytes(profile(train).to_bytes())
            version = run.log_artifact(
                path,
                name=ARTIFACT,
                type="profile",
                metadata={"rows": len(train), "columns": len(train.columns)},
                description="Profile of the digits training images (pixels as ink, 0 to 1).",
            )
            reference = Profile.from_bytes(path.read_bytes())  # what a monitor would read
        assert version is not None
        windows = [
            _verdict("unchanged test images", len(test), drift(reference, test, alpha=ALPHA)),
            _verdict(
                f"test images, {INK - 1:.0%} heavier ink",
                len(test),
                drift(reference, (test * INK).clip(upper=1.0), alpha=ALPHA),
            ),
        ]
        unchanged, heavier = windows
        run.summary.update(
            {
                "reference_rows": len(train),
                "window_unchanged": _figures(unchanged),
                "window_heavier_ink": _figures(heavier),
            }
        )
        return DriftResult(run.id, version.ref, len(train), windows)


def _verdict(name: str, rows: int, report: DriftReport) -> WindowVerdict:
    """The window's verdict and its TOP columns by p-value (drifted or not: on an
    unchanged window they show how far from a rejection the closest columns were)."""
    tested = sorted(
        (f.p_value, f.name, f.p_adjusted, f.psi, f.wasserstein)
        for f in report.features.values()
        if f.p_value is not None and f.p_adjusted is not None
    )
    return WindowVerdict(
        name=name,
        rows=rows,
        drifted=report.drifted,
        tested=report.tested,
        features_drifted=len(report.drifted_features),
        top=[TopFeature(n, p, adjusted, psi, w) for p, n, adjusted, psi, w in tested[:TOP]],
    )


def _figures(window: WindowVerdict) -> dict[str, object]:
    return {
        "rows": window.rows,
        "drifted": window.drifted,
        "tested": window.tested,
        "features_drifted": window.features_drifted,
        "top": {f.name: {"p": f.p_value, "p_holm": f.p_adjusted} for f in window.top},
    }
