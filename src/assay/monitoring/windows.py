"""One window of a model's traffic as the numbers a monitor logs at its step.

Series, for all traffic and for each slice (``version=3/...``, and
``version=3,arm=b/...`` where requests name an arm):

* ``traffic`` (requests), ``error_rate`` (status >= 500), ``client_error_rate`` (400-499),
  ``latency_p50_ms``, ``latency_p99_ms``;
* ``drift`` (1 when the inputs of the window's answered requests drifted from the
  reference, Holm at ``alpha``; no value when no column could be judged),
  ``drifted_features``;
* ``prediction_drift`` (the outputs against the reference's prediction column, or the
  monitor's first full window);
* ``<scorer>`` with ``<scorer>_low`` / ``<scorer>_high`` (95% interval: Wilson for
  accuracy, t for mean absolute error) and ``labelled`` (rows with a label).

For all traffic also ``drift.<feature>.p_value`` (before Holm), ``drift.<feature>.effect``
(PSI) and ``drift.<feature>.drifted``: the drift heat map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.monitoring.drift import MIN_ROWS, DriftReport, drift
from assay.monitoring.profile import Profile, profile
from assay.monitoring.requests import inputs_of, outputs_of
from assay.monitoring.spec import MonitorSpec
from assay.stats.estimates import mean_estimate

NAN = math.nan


@dataclass(kw_only=True)
class WindowResult:
    step: int
    metrics: dict[str, float]
    input_drift: DriftReport | None = None
    outputs: Profile | None = None  # this window's outputs (a prediction-drift baseline)
    notes: list[str] = field(default_factory=list)


def evaluate_window(
    frame: Any,
    spec: MonitorSpec,
    step: int,
    reference: Profile | None,
    baseline: Profile | None,
) -> WindowResult:
    """The window's series; ``frame`` holds the requests of the window (any versions)."""
    result = WindowResult(step=step, metrics={})
    for prefix, rows in slices(frame):
        result.metrics.update(_prefixed(prefix, operational(rows)))
        report = input_drift(rows, spec, reference)
        result.metrics.update(_prefixed(prefix, _drift_series(report)))
        predicted, outputs = prediction_drift(rows, spec, reference, baseline)
        result.metrics[f"{prefix}prediction_drift"] = predicted
        result.metrics.update(_prefixed(prefix, performance(rows, spec)))
        if prefix == "":
            result.input_drift = report
            result.outputs = outputs
            if report is not None:
                result.metrics.update(feature_series(report))
                result.notes.extend(report.problems)
    return result


def slices(frame: Any) -> list[tuple[str, Any]]:
    """("", all rows), then ("version=V/", rows) per version, and per (version, arm)."""
    out: list[tuple[str, Any]] = [("", frame)]
    if len(frame) == 0:
        return out
    for version, rows in frame.groupby(frame["version"].astype(str), sort=True):
        out.append((f"version={version}/", rows))
        if "arm" in rows.columns and rows["arm"].notna().any():
            for arm, armed in rows.groupby(rows["arm"].astype(str), sort=True):
                out.append((f"version={version},arm={arm}/", armed))
    return out


def operational(rows: Any) -> dict[str, float]:
    n = len(rows)
    if n == 0:
        return {"traffic": 0.0}
    status = rows["status"].to_numpy(dtype=float)
    latency = rows["latency_ms"].to_numpy(dtype=float) if "latency_ms" in rows else np.array([])
    latency = latency[np.isfinite(latency)]
    p50, p99 = np.percentile(latency, [50, 99]) if len(latency) else (NAN, NAN)
    return {
        "traffic": float(n),
        "error_rate": float((status >= 500).mean()),
        "client_error_rate": float(((status >= 400) & (status < 500)).mean()),
        "latency_p50_ms": float(p50),
        "latency_p99_ms": float(p99),
    }


def input_drift(rows: Any, spec: MonitorSpec, reference: Profile | None) -> DriftReport | None:
    if reference is None or len(rows) == 0:
        return None
    inputs = inputs_of(rows[rows["status"] < 400])  # refused requests show in the error rates
    wanted = features_of(spec, reference)
    present = [c for c in wanted if c in inputs.columns]
    if not present:
        return None
    return drift(reference, inputs[present], alpha=spec.alpha, columns=wanted)


def features_of(spec: MonitorSpec, reference: Profile) -> list[str]:
    """The monitored inputs: the spec's, else the reference's columns but the label and
    the prediction."""
    if spec.features:
        return list(spec.features)
    skip = {"label", "target", spec.prediction or "prediction", "prediction"}
    return [c for c in reference.columns if c not in skip]


def _drift_series(report: DriftReport | None) -> dict[str, float]:
    if report is None or report.tested == 0:
        return {"drift": NAN, "drifted_features": NAN}
    return {"drift": float(report.drifted), "drifted_features": float(len(report.drifted_features))}


def feature_series(report: DriftReport) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, f in report.features.items():
        out[f"drift.{name}.p_value"] = _num(f.p_value)
        out[f"drift.{name}.effect"] = _num(f.psi)
        out[f"drift.{name}.drifted"] = (
            float(f.drifted) if f.status == "tested" or f.drifted else NAN
        )
    return out


def prediction_column(spec: MonitorSpec, rows: Any) -> str | None:
    outputs = [str(c)[len("output.") :] for c in rows.columns if str(c).startswith("output.")]
    if spec.prediction is not None:
        return spec.prediction if spec.prediction in outputs else None
    return outputs[0] if len(outputs) == 1 else ("prediction" if "prediction" in outputs else None)


def prediction_drift(
    rows: Any, spec: MonitorSpec, reference: Profile | None, baseline: Profile | None
) -> tuple[float, Profile | None]:
    """(1/0, or no value when it cannot be judged; the profile of this window's outputs)."""
    name = prediction_column(spec, rows)
    if name is None or len(rows) == 0:
        return NAN, None
    ok = rows[rows["status"] < 400]
    outputs = outputs_of(ok)[[name]]
    mine = profile(outputs) if len(outputs) >= MIN_ROWS else None
    against = reference if reference is not None and name in reference else baseline
    if mine is None or against is None or name not in against:
        return NAN, mine
    report = drift(against, mine, alpha=spec.alpha, columns=[name])
    return (float(report.drifted) if report.tested else NAN), mine


def performance(rows: Any, spec: MonitorSpec) -> dict[str, float]:
    """The scorer on the labelled rows, with its 95% interval."""
    name = prediction_column(spec, rows)
    if name is None or "label" not in rows.columns:
        return {}
    labelled = rows[rows["label"].notna() & (rows["status"] < 400)]
    key = spec.scorer
    if len(labelled) == 0:
        return {"labelled": 0.0}
    scores = _scores(labelled[f"output.{name}"], labelled["label"], spec.scorer)
    estimate = mean_estimate(scores)
    return {
        "labelled": float(len(labelled)),
        key: estimate.value,
        f"{key}_low": _num(estimate.low),
        f"{key}_high": _num(estimate.high),
    }


def _scores(predicted: Any, label: Any, scorer: str) -> np.ndarray:
    if scorer == "mae":
        p = np.asarray(predicted, dtype=float)
        y = np.asarray(label, dtype=float)
        return np.asarray(np.abs(p - y), dtype=float)
    return np.fromiter((_same(p, y) for p, y in zip(predicted, label, strict=True)), dtype=float)


def _same(predicted: Any, label: Any) -> bool:
    """Equal as numbers when both read as numbers (1 == 1.0 == "1"), else as text."""
    try:
        return float(predicted) == float(label)
    except (TypeError, ValueError):
        return str(predicted) == str(label)


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in metrics.items()}


def _num(value: float | None) -> float:
    return NAN if value is None else float(value)
