"""How the arms of a prompt's A/B split compare, from the traces that recorded each
version: per arm, the mean of every metric with its interval; per candidate arm (each
version but the baseline, the arm with the largest share), the difference from the
baseline with Welch's t (the arms saw different callers: unpaired), a one-sided test
against a tolerance, Holm across the metrics, and a verdict as the evaluation gate gives
one (pass, fail, inconclusive; docs/llm.md).

Metrics: ``cost`` (dollars per trace), ``latency`` (seconds), ``error`` (1 when a span of
the trace failed) are lower-is-better; every score (``assay.score.<name>`` attributes:
feedback and judges) is higher-is-better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from assay import stats
from assay.text import fmt

LOWER_IS_BETTER = ("cost", "latency", "error")
# the default tolerance of a metric: an absolute amount, or a fraction of the baseline's mean
RELATIVE_TOLERANCE = {"cost": 0.05, "latency": 0.05}
ABSOLUTE_TOLERANCE = {"error": 0.01}
SCORE_TOLERANCE = 0.02


@dataclass(frozen=True, kw_only=True)
class ArmSummary:
    version: int
    share: float | None  # its percentage in the split now (None: not in it any more)
    traces: int
    metrics: dict[str, stats.Estimate]


@dataclass(frozen=True, kw_only=True)
class ArmComparison:
    metric: str
    candidate: int  # version
    baseline: int
    candidate_value: float
    baseline_value: float
    diff: float
    low: float
    high: float
    n: int
    p_value: float
    test: str
    tolerance: float
    higher_is_better: bool
    p_fail: float = math.nan  # Holm-adjusted across the candidate's metrics
    p_pass: float = math.nan
    decision: str = "inconclusive"
    more_traces: int | None = None


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | inconclusive
    reason: str


@dataclass(frozen=True, kw_only=True)
class ABReport:
    prompt: str
    label: str | None
    baseline: int
    arms: list[ArmSummary]
    comparisons: list[ArmComparison]
    verdict: Verdict
    level: float

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def tolerance_of(metric: str, baseline_mean: float, given: Mapping[str, float]) -> float:
    if metric in given:
        return float(given[metric])
    if metric in RELATIVE_TOLERANCE:
        return (
            RELATIVE_TOLERANCE[metric] * abs(baseline_mean) if math.isfinite(baseline_mean) else 0.0
        )
    return ABSOLUTE_TOLERANCE.get(metric, SCORE_TOLERANCE)


def compare_arms(
    prompt: str,
    label: str | None,
    observations: Mapping[int, Mapping[str, Sequence[float]]],
    shares: Mapping[int, float],
    *,
    tolerances: Mapping[str, float] | None = None,
    level: float = stats.LEVEL,
) -> ABReport:
    """``observations``: version -> metric -> one value per trace. The baseline is the
    version with the largest share (the incumbent), else the lowest version."""
    versions = sorted(set(observations) | set(shares))
    if len(versions) < 2:
        raise ValueError("a comparison needs at least two versions")
    baseline = max(versions, key=lambda v: (shares.get(v, -1.0), -v))
    arrays = {
        v: {m: np.asarray(list(xs), dtype=float) for m, xs in observations.get(v, {}).items()}
        for v in versions
    }
    arms = [
        ArmSummary(
            version=v,
            share=shares.get(v),
            traces=max((len(x) for x in arrays[v].values()), default=0),
            metrics={m: stats.mean_estimate(x, level=level) for m, x in sorted(arrays[v].items())},
        )
        for v in versions
    ]
    comparisons: list[ArmComparison] = []
    verdicts: dict[int, Verdict] = {}
    for candidate in (v for v in versions if v != baseline):
        checked = _compare(candidate, baseline, arrays, tolerances or {}, level)
        comparisons.extend(checked)
        verdicts[candidate] = _verdict(candidate, baseline, checked)
    return ABReport(
        prompt=prompt,
        label=label,
        baseline=baseline,
        arms=arms,
        comparisons=comparisons,
        verdict=_overall(verdicts),
        level=level,
    )


def _compare(
    candidate: int,
    baseline: int,
    arrays: Mapping[int, Mapping[str, np.ndarray]],
    tolerances: Mapping[str, float],
    level: float,
) -> list[ArmComparison]:
    shared = sorted(set(arrays[candidate]) & set(arrays[baseline]))
    checked: list[tuple[ArmComparison, stats.Difference]] = []
    for metric in shared:
        c, b = arrays[candidate][metric], arrays[baseline][metric]
        d = stats.welch_difference(c, b, level)
        better = higher_is_better(metric)
        tolerance = tolerance_of(metric, float(b.mean()) if len(b) else math.nan, tolerances)
        p_fail, p_pass = stats.one_sided(d, tolerance, better)
        more = stats.more_items(d, tolerance, better, level) if math.isfinite(d.se) else None
        checked.append(
            (
                ArmComparison(
                    metric=metric,
                    candidate=candidate,
                    baseline=baseline,
                    candidate_value=float(c.mean()) if len(c) else math.nan,
                    baseline_value=float(b.mean()) if len(b) else math.nan,
                    diff=d.diff,
                    low=d.low,
                    high=d.high,
                    n=d.n,
                    p_value=d.p_value,
                    test=d.test,
                    tolerance=tolerance,
                    higher_is_better=better,
                    p_fail=p_fail,
                    p_pass=p_pass,
                    more_traces=more,
                ),
                d,
            )
        )
    adjusted = stats.holm([c.p_fail for c, _ in checked])
    out = []
    for (check, d), p in zip(checked, adjusted, strict=True):
        known = math.isfinite(d.se)
        decision = stats.decide(p, check.p_pass, level) if known else "inconclusive"
        more = check.more_traces if decision == "inconclusive" else None
        out.append(replace(check, p_fail=p, decision=decision, more_traces=more))
    return out


def _change(c: ArmComparison) -> str:
    return (
        f"{c.metric} {fmt(c.candidate_value)} vs {fmt(c.baseline_value)} "
        f"(difference {fmt(c.diff)}, CI {fmt(c.low)} to {fmt(c.high)})"
    )


def _verdict(candidate: int, baseline: int, checked: list[ArmComparison]) -> Verdict:
    name = f"v{candidate} against v{baseline}"
    if not checked:
        return Verdict("inconclusive", f"{name}: no traces recorded both versions' metrics")
    failed = [c for c in checked if c.decision == "fail"]
    if failed:
        shown = "; ".join(
            f"{_change(c)} is worse by more than the tolerance {fmt(c.tolerance)}"
            for c in failed[:3]
        )
        return Verdict("fail", f"{name}: {shown}")
    if all(c.decision == "pass" for c in checked):
        shown = ", ".join(c.metric for c in checked)
        return Verdict("pass", f"{name}: every metric is within tolerance ({shown})")
    pending = [c for c in checked if c.decision != "pass"]
    parts = []
    for c in pending[:3]:
        more = (
            f"; about {c.more_traces} more traces would likely settle it" if c.more_traces else ""
        )
        parts.append(f"{_change(c)}: not clearly within or beyond {fmt(c.tolerance)}{more}")
    return Verdict("inconclusive", f"{name}: " + "; ".join(parts))


def _overall(verdicts: Mapping[int, Verdict]) -> Verdict:
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    for status in ("fail", "inconclusive"):
        found = [v.reason for v in verdicts.values() if v.status == status]
        if found:
            return Verdict(status, " | ".join(found))
    return Verdict("pass", " | ".join(v.reason for v in verdicts.values()))
