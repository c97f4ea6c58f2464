"""Paired differences (candidate - baseline on the same items) and their tests: paired t,
McNemar (exact, clustered), Agresti-Min intervals, the paired bootstrap; one-sided tests
against a tolerance, intervals at other levels, and how many more items would settle one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from assay.stats.bootstrap import (
    BOOTSTRAP_DRAWS,
    LEVEL,
    Array,
    Metric,
    Sums,
    draw_values,
    finite,
    paired_sums,
    value_of,
)
from assay.stats.estimates import clustered_se, effective_items, is_binary, t_estimate, t_interval


@dataclass(frozen=True, kw_only=True)
class Difference:
    """candidate - baseline over the shared items."""

    diff: float
    se: float
    low: float
    high: float
    n: int
    p_value: float  # two-sided, H0: no difference
    test: str  # "paired t", "McNemar exact", "paired bootstrap"
    sd: float | None = None  # sd of the per-item differences (feeds `assay eval power`)
    df: float | None = None  # None: the normal distribution
    clusters: int | None = None
    draws: Array | None = field(default=None, repr=False, compare=False)
    center: float | None = None  # where the interval is centred, when not at ``diff``

    @property
    def middle(self) -> float:
        return self.diff if self.center is None else self.center


def mcnemar_exact(candidate: Array, baseline: Array) -> float:
    """Two-sided exact McNemar p-value for paired pass/fail outcomes: a binomial test on the
    discordant pairs (as statsmodels' ``mcnemar(exact=True)``)."""
    from scipy import stats

    better = int(np.sum((candidate == 1) & (baseline == 0)))
    worse = int(np.sum((candidate == 0) & (baseline == 1)))
    if better + worse == 0:
        return 1.0
    return float(stats.binomtest(better, better + worse, 0.5).pvalue)


def clustered_mcnemar(d: Array, clusters: NDArray[np.intp]) -> float:
    """McNemar's test for clustered pairs (Durkalski et al., 2003): with D_g the sum of the
    paired differences in cluster g, (sum D_g)^2 / sum D_g^2 is chi-square with 1 df. With one
    item per cluster it is McNemar's chi-square without continuity correction."""
    from scipy import stats

    _, codes = np.unique(clusters, return_inverse=True)
    totals = np.bincount(codes, weights=d)
    spread = float(np.sum(totals**2))
    if spread == 0:
        return 1.0
    return float(stats.chi2.sf(float(totals.sum()) ** 2 / spread, 1))


def paired_proportions(
    candidate: Array,
    baseline: Array,
    clusters: NDArray[np.intp] | None = None,
    level: float = LEVEL,
) -> Difference:
    """Paired pass/fail outcomes: the difference of pass rates with Agresti and Min's (2005)
    interval (a Wald interval after adding 1/2 to each cell of the 2x2 table), which keeps
    its coverage when the models rarely disagree and is not of zero width when they never
    do; the p-value is McNemar's exact test. With clusters, the table is scaled to the
    effective number of items and the p-value is the clustered McNemar test."""
    from scipy import stats

    n = len(candidate)
    d = candidate - baseline
    better = float(np.sum(d > 0))
    worse = float(np.sum(d < 0))
    diff = (better - worse) / n
    size, g = float(n), None
    if clusters is None:
        p, test = mcnemar_exact(candidate, baseline), "McNemar exact"
    else:
        se_clustered, g = clustered_se(d, clusters)
        independent = ((better + worse) / n - diff**2) / n
        size = effective_items(se_clustered**2, independent, n, g)
        better, worse = better * size / n, worse * size / n
        p, test = clustered_mcnemar(d, clusters), "clustered McNemar"
    m = size + 2
    up, down = (better + 0.5) / m, (worse + 0.5) / m
    center = up - down
    se = math.sqrt((up + down - center**2) / m)
    half = float(stats.norm.ppf(0.5 + level / 2)) * se
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    low, high = max(-1.0, center - half), min(1.0, center + half)
    return Difference(
        diff=diff,
        se=se,
        low=low,
        high=high,
        n=n,
        p_value=p,
        test=test,
        sd=sd,
        clusters=g,
        center=center,
    )


def paired_difference(
    candidate: Array,
    baseline: Array,
    clusters: NDArray[np.intp] | None = None,
    level: float = LEVEL,
) -> Difference:
    """Mean paired difference with its (clustered) standard error and t interval, and the
    paired t test; pass/fail outcomes go to ``paired_proportions``."""
    from scipy import stats

    c, b = np.asarray(candidate, float), np.asarray(baseline, float)
    n = len(c)
    binary = is_binary(c) and is_binary(b)
    if binary and n > 0:
        return paired_proportions(c, b, clusters, level)
    d = c - b
    est = t_estimate(d, clusters, level)
    df = float((est.clusters or 0) - 1 if clusters is not None else n - 1)
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if est.se == 0 or not math.isfinite(est.se):
        p, test = (1.0 if est.value == 0 else 0.0), "paired t"
    else:
        p, test = float(2 * stats.t.sf(abs(est.value / est.se), df)), "paired t"
    return Difference(
        diff=est.value,
        se=est.se,
        low=est.low,
        high=est.high,
        n=n,
        p_value=p,
        test=test,
        sd=sd,
        df=df,
        clusters=est.clusters,
    )


def paired_bootstrap(
    candidate: Metric | Sums,
    baseline: Metric | Sums,
    n: int,
    *,
    clusters: NDArray[np.intp] | None = None,
    level: float = LEVEL,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Difference:
    """Difference of a non-mean metric, both sides computed on the same resampled items."""
    value = value_of(candidate, n) - value_of(baseline, n)
    g = None if clusters is None else len(np.unique(clusters))
    if n == 0:
        return Difference(
            diff=value,
            se=math.nan,
            low=math.nan,
            high=math.nan,
            n=0,
            p_value=math.nan,
            test="paired bootstrap",
        )
    if isinstance(candidate, Sums) and isinstance(baseline, Sums):
        both = draw_values(paired_sums(candidate, baseline), n, clusters, draws, seed)
    else:
        both = draw_values(candidate, n, clusters, draws, seed) - draw_values(
            baseline, n, clusters, draws, seed
        )
    diffs = finite(both)
    if len(diffs) < 2:
        return Difference(
            diff=value,
            se=math.nan,
            low=math.nan,
            high=math.nan,
            n=n,
            p_value=math.nan,
            test="paired bootstrap",
        )
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    below, above = float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))
    p = min(1.0, 2 * min(below, above))
    se = float(diffs.std(ddof=1))
    test = "paired bootstrap"
    return Difference(
        diff=value,
        se=se,
        low=float(low),
        high=float(high),
        n=n,
        p_value=p,
        test=test,
        sd=None,
        df=None,
        clusters=g,
        draws=diffs,
    )


def _oriented(value: float, higher_is_better: bool) -> float:
    return value if higher_is_better else -value


def one_sided(d: Difference, tolerance: float, higher_is_better: bool) -> tuple[float, float]:
    """(p_fail, p_pass): p_fail tests H0 "the drop is within tolerance" (small when the
    candidate is worse by more than ``tolerance``), p_pass tests H0 "the drop exceeds
    tolerance". At level 0.95, p_fail < 0.025 is the CI's far end beyond -tolerance and
    p_pass < 0.025 its near end above it."""
    from scipy import stats

    margin = _oriented(d.middle, higher_is_better) + tolerance
    if d.draws is not None:
        oriented = d.draws if higher_is_better else -d.draws
        return float(np.mean(oriented >= -tolerance)), float(np.mean(oriented <= -tolerance))
    if not math.isfinite(d.se):
        return 1.0, 1.0
    if d.se == 0:
        return (0.0 if margin < 0 else 1.0), (0.0 if margin > 0 else 1.0)
    z = margin / d.se
    if d.df is None:
        return float(stats.norm.cdf(z)), float(stats.norm.sf(z))
    df = d.df if d.df > 0 else 1.0
    return float(stats.t.cdf(z, df)), float(stats.t.sf(z, df))


def interval(d: Difference, level: float) -> tuple[float, float]:
    """The interval of a difference at another level, computed as its own interval was:
    bootstrap percentiles, a t interval, or a normal (Agresti-Min) interval."""
    from scipy import stats

    if d.draws is not None:
        tail = (1 - level) / 2
        low, high = np.quantile(d.draws, [tail, 1 - tail])
        return float(low), float(high)
    if d.df is not None:
        return t_interval(d.diff, d.se, d.df, level)
    if not math.isfinite(d.se):
        return math.nan, math.nan
    half = float(stats.norm.ppf(0.5 + level / 2)) * d.se
    low, high = d.middle - half, d.middle + half
    return (max(-1.0, low), min(1.0, high)) if d.center is not None else (low, high)


def more_items(
    d: Difference, tolerance: float, higher_is_better: bool, level: float = LEVEL
) -> int | None:
    """Roughly how many more items would settle an inconclusive check, if the difference and
    the per-item spread stay as observed (the standard error shrinks as 1/sqrt(n)). None when
    the difference sits on the tolerance itself: no number of items settles it quickly."""
    from scipy import stats

    margin = abs(_oriented(d.middle, higher_is_better) + tolerance)
    if margin == 0 or not math.isfinite(d.se) or d.se == 0 or d.n == 0:
        return None
    z = float(stats.norm.ppf(0.5 + level / 2))
    total = d.n * (z * d.se / margin) ** 2
    return max(1, math.ceil(total - d.n))
