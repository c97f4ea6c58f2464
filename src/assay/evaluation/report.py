"""From per-item results to a report: metrics with intervals, paired comparisons, the verdict.

The gate, per gated metric and slice ("a check"): **fail** when the CI of candidate - baseline
at the Holm-adjusted level lies wholly below -tolerance (the regression tests are
Holm-corrected across every check, so the chance of a false fail stays at the nominal level
however many metrics and slices are gated; each check keeps that interval as ``gate_low`` ..
``gate_high`` at ``gate_level``, and the wording shows it beside the level's CI when the
levels differ); **pass** when the level's CI lies wholly above -tolerance; **inconclusive**
otherwise. The
verdict fails if any check fails or the candidate raised on more items than allowed; it passes
when every gated metric passes overall (slices can fail a candidate, never hold one back);
otherwise it is inconclusive and says roughly how many more items would settle it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from assay import stats
from assay.evaluation.scorers import CorpusScorer, ItemScorer, Scorer
from assay.records import EvalItem
from assay.text import fmt


@dataclass(frozen=True, kw_only=True)
class MetricResult:
    metric: str
    slice: str | None  # "label=3", or None for all items
    value: float
    se: float
    low: float
    high: float
    n: int
    method: str
    clusters: int | None = None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    metric: str
    slice: str | None
    candidate: float
    baseline: float
    diff: float
    se: float
    low: float
    high: float
    n: int
    p_value: float
    test: str
    tolerance: float
    higher_is_better: bool
    gated: bool
    p_fail: float = math.nan  # one-sided regression test, Holm-adjusted across the gate
    p_pass: float = math.nan  # one-sided test that the drop is within tolerance
    decision: str = "not gated"
    more_items: int | None = None
    sd: float | None = None
    level: float = stats.LEVEL  # of low..high
    # the interval the regression test was decided on: at the Holm-adjusted level (gate_level)
    gate_level: float | None = None
    gate_low: float = math.nan
    gate_high: float = math.nan


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | inconclusive
    reason: str


@dataclass(frozen=True)
class Shared:
    items: int
    candidate_only: int
    baseline_only: int


# ---- one side's per-item view ---------------------------------------------------------------


@dataclass(kw_only=True)
class Side:
    """The items of one evaluation, aggregated over repeats: a mean score per item and item
    scorer, and the (reference, output) rows of every successful call for corpus scorers."""

    ids: list[str]
    clusters: list[str | None]
    slices: list[dict[str, str]]
    scores: dict[str, np.ndarray]
    rows: dict[str, list[list[tuple[Any, Any]]]]
    errors: list[EvalItem] = field(default_factory=list)

    @property
    def errored_items(self) -> int:
        return len({e.item_id for e in self.errors})


def mean_scores(items: Sequence[EvalItem], scorer: str) -> dict[str, float]:
    """Per item id, the mean of one scorer's scores over the item's successful calls (items
    with none are left out)."""
    totals: dict[str, list[float]] = {}
    for item in items:
        value = item.scores.get(scorer)
        if item.error is None and value is not None and math.isfinite(value):
            totals.setdefault(item.item_id, []).append(value)
    return {item_id: sum(v) / len(v) for item_id, v in totals.items()}


def side_of(items: Sequence[EvalItem], scorers: Sequence[Scorer]) -> Side:
    order: dict[str, list[EvalItem]] = {}
    for item in items:
        order.setdefault(item.item_id, []).append(item)
    ids = list(order)
    scores = {}
    for scorer in scorers:
        if isinstance(scorer, ItemScorer):
            means = mean_scores(items, scorer.name)
            scores[scorer.name] = np.asarray([means.get(i, math.nan) for i in ids])
    rows: dict[str, list[list[tuple[Any, Any]]]] = {
        s.name: [[(_reference(s, c), c.output) for c in order[i] if c.error is None] for i in ids]
        for s in scorers
        if isinstance(s, CorpusScorer)
    }
    errors = [item for item in items if item.error is not None]
    first = [order[i][0] for i in ids]
    return Side(
        ids=ids,
        clusters=[f.cluster for f in first],
        slices=[f.slices for f in first],
        scores=scores,
        rows=rows,
        errors=errors,
    )


def _reference(scorer: CorpusScorer, item: EvalItem) -> Any:
    return item.inputs.get(scorer.reference) if scorer.reference else item.label


def _corpus(
    scorer: CorpusScorer, rows: list[list[tuple[Any, Any]]], items: np.ndarray
) -> stats.Metric | stats.Sums:
    """The scorer's metric over ``items`` (positions 0..len-1 stand for ``items``): as summed
    per-item vectors when the scorer has them, else a function of a resample."""
    if scorer.vectors is not None and scorer.combine is not None:
        owner = np.asarray([k for k, i in enumerate(items) for _ in rows[i]], dtype=np.intp)
        flat = [row for i in items for row in rows[i]]
        vectors = scorer.vectors([r for r, _ in flat], [o for _, o in flat])
        per_item = np.zeros((len(items), vectors.shape[1]))
        np.add.at(per_item, owner, vectors)
        return stats.Sums(per_item, scorer.combine)

    def metric(resample: np.ndarray) -> float:
        flat = [row for i in items[resample] for row in rows[i]]
        if not flat:
            return math.nan
        try:
            return float(scorer.metric([r for r, _ in flat], [o for _, o in flat]))
        except (ValueError, ZeroDivisionError, IndexError):
            return math.nan  # undefined on this sample (one class only, say)

    return metric


def _cluster_codes(side: Side, index: np.ndarray) -> np.ndarray | None:
    """Cluster codes for the items at ``index`` when there is a cluster column. (An item's
    repeats need none: they are averaged into one score per item, and the bootstrap resamples
    an item with all its calls.)"""
    if all(c is None for c in side.clusters):
        return None
    labels = np.asarray([str(side.clusters[i]) for i in index])
    return np.unique(labels, return_inverse=True)[1]


def _slice_groups(
    slices: Sequence[dict[str, str]], columns: Sequence[str]
) -> list[tuple[str | None, np.ndarray]]:
    """(name, positions) of all items, then of each value of each slice column."""
    groups: list[tuple[str | None, np.ndarray]] = [(None, np.arange(len(slices)))]
    for column in columns:
        for value in sorted({s.get(column, "") for s in slices}):
            index = np.flatnonzero([s.get(column, "") == value for s in slices])
            groups.append((f"{column}={value}", index))
    return groups


# ---- metrics -------------------------------------------------------------------------------------


def metrics(
    side: Side,
    scorers: Sequence[Scorer],
    slices: Sequence[str],
    level: float,
    draws: int,
    *,
    seed: int,
) -> list[MetricResult]:
    results = []
    for name, index in _slice_groups(side.slices, slices):
        for scorer in scorers:
            results.append(
                _metric(
                    side=side,
                    scorer=scorer,
                    slice_name=name,
                    index=index,
                    level=level,
                    draws=draws,
                    seed=seed,
                )
            )
    return results


def _metric(
    side: Side,
    scorer: Scorer,
    slice_name: str | None,
    index: np.ndarray,
    level: float,
    *,
    draws: int,
    seed: int,
) -> MetricResult:
    if isinstance(scorer, ItemScorer):
        values = side.scores[scorer.name][index]
        keep = index[np.isfinite(values)]
        est = stats.mean_estimate(values[np.isfinite(values)], _cluster_codes(side, keep), level)
    else:
        keep = np.asarray([i for i in index if side.rows[scorer.name][i]], dtype=np.intp)
        est = stats.bootstrap_estimate(
            metric=_corpus(scorer, side.rows[scorer.name], keep),
            n=len(keep),
            clusters=_cluster_codes(side, keep),
            level=level,
            draws=draws,
            seed=seed,
        )
    return MetricResult(
        metric=scorer.name,
        slice=slice_name,
        value=est.value,
        se=est.se,
        low=est.low,
        high=est.high,
        n=est.n,
        method=est.method,
        clusters=est.clusters,
    )


# ---- comparisons and the gate ------------------------------------------------------------------


def shared_items(candidate: Side, baseline: Side) -> tuple[np.ndarray, np.ndarray, Shared]:
    position = {item_id: i for i, item_id in enumerate(baseline.ids)}
    pairs = [
        (i, position[item_id]) for i, item_id in enumerate(candidate.ids) if item_id in position
    ]
    c = np.asarray([p[0] for p in pairs], dtype=np.intp)
    b = np.asarray([p[1] for p in pairs], dtype=np.intp)
    shared = Shared(len(pairs), len(candidate.ids) - len(pairs), len(baseline.ids) - len(pairs))
    return c, b, shared


def compare(
    candidate: Side,
    baseline: Side,
    scorers: Sequence[Scorer],
    slices: Sequence[str],
    tolerance: dict[str, float],
    *,
    level: float,
    draws: int,
    seed: int,
) -> tuple[list[Comparison], Shared]:
    c_index, b_index, shared = shared_items(candidate, baseline)
    gated = set(tolerance) if tolerance else {s.name for s in scorers}
    out: list[tuple[Comparison, stats.Difference]] = []
    shared_slices = [candidate.slices[i] for i in c_index]
    for slice_name, positions in _slice_groups(shared_slices, slices):
        for scorer in scorers:
            out.append(
                _compare_one(
                    candidate=candidate,
                    baseline=baseline,
                    scorer=scorer,
                    slice_name=slice_name,
                    c_index=c_index[positions],
                    b_index=b_index[positions],
                    tolerance=tolerance.get(scorer.name, 0.0),
                    gated=scorer.name in gated,
                    level=level,
                    draws=draws,
                    seed=seed,
                )
            )
    return _gate(out, level), shared


def _compare_one(
    candidate: Side,
    baseline: Side,
    scorer: Scorer,
    slice_name: str | None,
    c_index: np.ndarray,
    *,
    b_index: np.ndarray,
    tolerance: float,
    gated: bool,
    level: float,
    draws: int,
    seed: int,
) -> tuple[Comparison, stats.Difference]:
    if isinstance(scorer, ItemScorer):
        c, b = candidate.scores[scorer.name][c_index], baseline.scores[scorer.name][b_index]
        ok = np.isfinite(c) & np.isfinite(b)
        codes = _cluster_codes(candidate, c_index[ok])
        d = stats.paired_difference(c[ok], b[ok], codes, level)
        c_value, b_value = (
            float(np.mean(c[ok])) if ok.any() else math.nan,
            float(np.mean(b[ok])) if ok.any() else math.nan,
        )
    else:
        ok = np.asarray(
            [
                bool(candidate.rows[scorer.name][i]) and bool(baseline.rows[scorer.name][j])
                for i, j in zip(c_index, b_index, strict=True)
            ],
            dtype=bool,
        )
        ci, bi = c_index[ok], b_index[ok]
        c_metric = _corpus(scorer, candidate.rows[scorer.name], ci)
        b_metric = _corpus(scorer, baseline.rows[scorer.name], bi)
        codes = _cluster_codes(candidate, ci)
        d = stats.paired_bootstrap(
            candidate=c_metric,
            baseline=b_metric,
            n=len(ci),
            clusters=codes,
            level=level,
            draws=draws,
            seed=seed,
        )
        c_value, b_value = stats.value_of(c_metric, len(ci)), stats.value_of(b_metric, len(bi))
    p_fail, p_pass = stats.one_sided(d, tolerance, scorer.higher_is_better)
    comparison = Comparison(
        metric=scorer.name,
        slice=slice_name,
        candidate=c_value,
        baseline=b_value,
        diff=d.diff,
        se=d.se,
        low=d.low,
        high=d.high,
        n=d.n,
        p_value=d.p_value,
        test=d.test,
        tolerance=tolerance,
        higher_is_better=scorer.higher_is_better,
        gated=gated,
        p_fail=p_fail,
        p_pass=p_pass,
        more_items=stats.more_items(d, tolerance, scorer.higher_is_better, level) if d.n else None,
        sd=d.sd,
        level=level,
    )
    return comparison, d


def _gate(checked: list[tuple[Comparison, stats.Difference]], level: float) -> list[Comparison]:
    """Decide each gated check on its Holm-adjusted regression test, and keep the interval at
    the level that test was held to, so what is shown is what was decided on."""
    comparisons = [c for c, _ in checked]
    checks = [i for i, c in enumerate(comparisons) if c.gated]
    p_fail = [comparisons[i].p_fail for i in checks]
    adjusted = stats.holm(p_fail)
    levels = stats.holm_levels(p_fail, level)
    out = list(comparisons)
    for i, p, held in zip(checks, adjusted, levels, strict=True):
        c = comparisons[i]
        decision = stats.decide(p, c.p_pass, level) if c.n > 0 else "inconclusive"
        more = c.more_items if decision == "inconclusive" else None
        low, high = stats.interval(checked[i][1], held) if c.n > 0 else (math.nan, math.nan)
        out[i] = replace(
            c,
            p_fail=p,
            decision=decision,
            more_items=more,
            gate_level=held,
            gate_low=low,
            gate_high=high,
        )
    for i, c in enumerate(out):
        if not c.gated:
            out[i] = replace(c, decision="not gated", more_items=None)
    return out


def percent(level: float) -> str:
    """0.95 -> "95%", 0.98333 -> "98.33%"."""
    return f"{level * 100:.4g}%"


def p_text(p: float | None, test: str, draws: int | None) -> str:
    """A p-value for a table. A bootstrap p-value of 0 means no resample crossed zero, which
    says only that p is below the resolution of ``draws`` resamples: ``< 1/(draws+1)``."""
    if p == 0 and "bootstrap" in test and draws:
        return f"< {fmt(1 / (draws + 1), 3)}"
    return fmt(p, 3)


def adjusted(c: Comparison) -> bool:
    """Whether the regression test was held to another level than the interval shown."""
    return c.gate_level is not None and not math.isclose(c.gate_level, c.level)


def _where(c: Comparison) -> str:
    return c.metric if c.slice is None else f"{c.metric} on {c.slice}"


def _intervals(c: Comparison, sign: float = 1.0) -> str:
    """The interval at the report's level, and the Holm-adjusted one the gate used when it
    differs; ``sign=-1`` shows them for the drop (baseline - candidate)."""

    def span(low: float, high: float) -> str:
        ends = sorted((sign * low, sign * high)) if math.isfinite(low + high) else [low, high]
        return f"{fmt(ends[0])} to {fmt(ends[1])}"

    text = f"{percent(c.level)} CI {span(c.low, c.high)}"
    if adjusted(c) and c.gate_level is not None:
        text += f"; Holm-adjusted {percent(c.gate_level)} CI {span(c.gate_low, c.gate_high)}"
    return text


def _change(c: Comparison) -> str:
    """The size of a failed check's change in words, never a negative amount ("dropped by
    0.41 (95% CI 0.3 to 0.5)", "rose by ..."); otherwise "changed by -0.003 (95% CI ...)"."""
    if c.decision == "fail" and c.diff != 0:
        word, sign = ("dropped", -1.0) if c.diff < 0 else ("rose", 1.0)
        return f"{word} by {fmt(abs(c.diff))} ({_intervals(c, sign)})"
    return f"changed by {fmt(c.diff)} ({_intervals(c)})"


def _limit(c: Comparison) -> str:
    """The edge of the tolerance: a drop of ``tolerance``, or a rise for lower-is-better."""
    return f"{'-' if c.higher_is_better else '+'}{fmt(c.tolerance)}"


def errors_allowed(errored_items: int, items: int, max_errors: float) -> bool:
    """Whether the model raised on no more than the ``max_errors`` fraction of the items."""
    return errored_items <= max_errors * items


def verdict(
    comparisons: Sequence[Comparison],
    candidate: Side,
    max_errors: float,
    has_baseline: bool,
) -> Verdict:
    failed = [c for c in comparisons if c.decision == "fail"]
    reasons: list[str] = []
    items = len(candidate.ids)
    if not errors_allowed(candidate.errored_items, items, max_errors):
        first = candidate.errors[0]
        reasons.append(
            f"the model raised on {candidate.errored_items} of {items} items "
            f"(item {first.item_id}: {first.error})"
        )
    for c in failed[:3]:
        reasons.append(f"{_where(c)} {_change(c)}, beyond the tolerance {fmt(c.tolerance)}")
    if len(failed) > 3:
        reasons.append(f"and {len(failed) - 3} more checks failed")
    if reasons:
        return Verdict("fail", "; ".join(reasons))
    if not has_baseline:
        return Verdict("pass", f"no baseline to compare with; {items} items scored")
    overall = [c for c in comparisons if c.gated and c.slice is None]
    if overall and all(c.decision == "pass" for c in overall):
        shown = ", ".join(f"{c.metric} {_change(c)}" for c in overall[:3])
        return Verdict("pass", f"every gated metric is within tolerance: {shown}")
    pending = [c for c in overall if c.decision != "pass"]
    parts = []
    for c in pending[:3]:
        more = f"; about {c.more_items} more items would likely settle it" if c.more_items else ""
        parts.append(f"{c.metric} {_change(c)}: not clearly within or beyond {_limit(c)}{more}")
    return Verdict("inconclusive", "; ".join(parts) or "nothing was gated")


def to_dict(value: Any) -> Any:
    """Dataclasses as plain data, non-finite floats as None (JSON has no NaN)."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_dict(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: to_dict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
