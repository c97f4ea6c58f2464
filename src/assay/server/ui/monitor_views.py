"""What the monitoring page of a model shows, read from its monitors' runs and alerts:
the windows' series by slice (all traffic, each version, each version and arm), the
drift heat map (features x windows) and the alert incidents."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from assay.monitoring.spec import MonitorSpec
from assay.records import Alert, Columns, Run
from assay.sdk.alerting import deliveries_of
from assay.store.base import Store

HEAT_WINDOWS = 48  # the newest windows in the heat map
CHARTS = (
    ("traffic", "Requests per window", ("traffic",)),
    ("latency", "Latency p50 / p99 (ms)", ("latency_p50_ms", "latency_p99_ms")),
    ("errors", "Error rate (5xx)", ("error_rate",)),
)


@dataclass(kw_only=True)
class Cell:
    step: int
    p_value: float | None
    effect: float | None
    drifted: bool
    title: str

    @property
    def shade(self) -> str:
        """A CSS class: drifted (red), near (p under 0.05, amber), calm, or no value."""
        if self.p_value is None:
            return "none"
        if self.drifted:
            return "drifted"
        return "near" if self.p_value < 0.05 else "calm"


@dataclass(kw_only=True)
class MonitorPage:
    run: Run
    spec: MonitorSpec
    slices: list[str]
    charts: dict[str, Any]  # chart id -> {title, x, series: [{label, values}]}
    performance: dict[str, Any] | None
    steps: list[int]  # the heat map's windows
    heat: dict[str, list[Cell]]  # feature -> cells, one per window of ``steps``
    alerts: list[Alert]
    window_ends: dict[int, str] = field(default_factory=dict)
    # alert id -> (event, state, text) per event: the webhook's delivery of each
    deliveries: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def monitor_page(store: Store, run: Run, spec: MonitorSpec) -> MonitorPage:
    history = store.runs.history(run.id)
    values = {key: _points(columns) for key, columns in history.items()}
    slices = _slices(values)
    steps = sorted(values.get("traffic", {}))
    heat_steps = steps[-HEAT_WINDOWS:]
    ends = {s: _iso(spec.bounds(s)[1]) for s in steps}
    alerts = store.alerts.list(monitor_id=run.id, limit=200)
    return MonitorPage(
        run=run,
        spec=spec,
        slices=slices,
        charts={
            cid: _chart(title, keys, values=values, slices=slices, steps=steps, spec=spec)
            for cid, title, keys in CHARTS
        },
        performance=_performance(values, slices, steps, spec),
        steps=heat_steps,
        heat=_heat(values, heat_steps, ends),
        alerts=alerts,
        window_ends=ends,
        deliveries={a.id: deliveries_of(a) for a in alerts} if spec.webhook else {},
    )


def _points(columns: Columns) -> dict[int, float]:
    return dict(zip(columns.steps.tolist(), columns.values.tolist(), strict=True))


def _slices(values: dict[str, dict[int, float]]) -> list[str]:
    """ "" (all traffic) first, then each ``version=V/`` and ``version=V,arm=A/`` prefix."""
    found = {k[: k.rindex("/") + 1] for k in values if k.endswith("/traffic")}
    return ["", *sorted(found)]


def _label(prefix: str) -> str:
    return prefix.rstrip("/") or "all"


def _chart(
    title: str,
    keys: tuple[str, ...],
    *,
    values: dict[str, dict[int, float]],
    slices: list[str],
    steps: list[int],
    spec: MonitorSpec,
) -> dict[str, Any]:
    series = []
    for prefix in slices:
        for key in keys:
            found = values.get(prefix + key)
            if not found:
                continue
            suffix = f" {key.split('_')[1]}" if len(keys) > 1 else ""
            series.append(
                {"label": _label(prefix) + suffix, "values": [_finite(found.get(s)) for s in steps]}
            )
    return {"title": title, "x": [spec.bounds(s)[1].timestamp() for s in steps], "series": series}


def _performance(
    values: dict[str, dict[int, float]], slices: list[str], steps: list[int], spec: MonitorSpec
) -> dict[str, Any] | None:
    key = spec.scorer
    series = []
    for prefix in slices:
        found = values.get(prefix + key)
        if not found:
            continue
        low = values.get(f"{prefix}{key}_low", {})
        high = values.get(f"{prefix}{key}_high", {})
        series.append(
            {
                "label": _label(prefix),
                "values": [_finite(found.get(s)) for s in steps],
                "low": [_finite(low.get(s)) for s in steps],
                "high": [_finite(high.get(s)) for s in steps],
            }
        )
    if not series:
        return None
    x = [spec.bounds(s)[1].timestamp() for s in steps]
    return {"title": f"{key} with its 95% interval", "x": x, "series": series}


def _heat(
    values: dict[str, dict[int, float]], steps: list[int], ends: dict[int, str]
) -> dict[str, list[Cell]]:
    features = sorted(
        {
            k[len("drift.") : -len(".p_value")]
            for k in values
            if k.startswith("drift.") and k.endswith(".p_value")
        }
    )
    heat = {}
    for name in features:
        p = values.get(f"drift.{name}.p_value", {})
        effect = values.get(f"drift.{name}.effect", {})
        drifted = values.get(f"drift.{name}.drifted", {})
        cells = []
        for step in steps:
            pv, ef = _finite(p.get(step)), _finite(effect.get(step))
            flagged = drifted.get(step) == 1.0
            title = (
                f"{name}, window {step} (ending {ends[step]}): "
                + ("not tested" if pv is None else f"p = {pv:.3g}, PSI = {_fmt(ef)}")
                + (" - DRIFT" if flagged else "")
            )
            cells.append(Cell(step=step, p_value=pv, effect=ef, drifted=flagged, title=title))
        heat[name] = cells
    return heat


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
