"""One-sample estimates with standard errors and intervals: means (t, clustered t), pass
rates (Wilson), and bootstrap estimates of metrics that are not means."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    value_of,
)


@dataclass(frozen=True, kw_only=True)
class Estimate:
    value: float
    se: float
    low: float
    high: float
    n: int  # items
    method: str  # "t", "clustered t", "bootstrap", "cluster bootstrap"
    clusters: int | None = None


def t_interval(value: float, se: float, df: float, level: float) -> tuple[float, float]:
    from scipy import stats

    if se == 0 or not math.isfinite(se) or df <= 0:
        return (value, value) if se == 0 else (-math.inf, math.inf)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return value - half, value + half


def is_binary(x: Array) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def clustered_se(x: Array, clusters: NDArray[np.intp]) -> tuple[float, int]:
    """Cluster-robust standard error of the mean of ``x`` (CR1, as statsmodels' OLS on a
    constant with ``cov_type="cluster"``): sqrt(G/(G-1) * sum_g (sum_{i in g} e_i)^2) / n."""
    n = len(x)
    residuals = x - x.mean()
    _, codes = np.unique(clusters, return_inverse=True)
    totals = np.bincount(codes, weights=residuals)
    g = len(totals)
    if g < 2:
        return math.nan, g
    return math.sqrt(g / (g - 1) * float(np.sum(totals**2))) / n, g


def mean_estimate(
    x: Array, clusters: NDArray[np.intp] | None = None, level: float = LEVEL
) -> Estimate:
    """Mean of per-item scores with its CLT (or clustered) standard error; a t interval, or
    Wilson's for a pass rate."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0 or not is_binary(x):
        return t_estimate(x, clusters, level)
    value = float(x.mean())
    if clusters is None:
        se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        low, high = wilson(value, n, level)
        return Estimate(value=value, se=se, low=low, high=high, n=n, method="Wilson")
    se, g = clustered_se(x, clusters)
    low, high = wilson(value, effective_items(se**2, value * (1 - value) / n, n, g), level)
    return Estimate(
        value=value, se=se, low=low, high=high, n=n, method="clustered Wilson", clusters=g
    )


def t_estimate(
    x: Array, clusters: NDArray[np.intp] | None = None, level: float = LEVEL
) -> Estimate:
    """Mean with its CLT (or cluster-robust) standard error and t interval."""
    n = len(x)
    if n == 0:
        return Estimate(value=math.nan, se=math.nan, low=math.nan, high=math.nan, n=0, method="t")
    value = float(x.mean())
    if clusters is not None:
        se, g = clustered_se(x, clusters)
        low, high = t_interval(value, se, g - 1, level)
        return Estimate(
            value=value, se=se, low=low, high=high, n=n, method="clustered t", clusters=g
        )
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    low, high = t_interval(value, se, n - 1, level)
    return Estimate(value=value, se=se, low=low, high=high, n=n, method="t")


def effective_items(clustered_var: float, independent_var: float, n: int, clusters: int) -> float:
    """Kish's effective number of items: n over the design effect (the variance of the mean
    with clusters over the variance were the items independent, floored at 1). When nothing
    varies (every item passes, or two versions never disagree) the design effect cannot be
    estimated, and the items are taken to be as correlated as they can be: one per cluster."""
    if independent_var > 0 and math.isfinite(clustered_var):
        return n / max(1.0, clustered_var / independent_var)
    return float(max(clusters, 1))


def wilson(rate: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """Wilson's score interval for a pass rate: inside [0, 1], and not of zero width when
    every item passes (36 of 36 gives 0.904 to 1, where a t interval claims exactly 1)."""
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + level / 2))
    shrink = 1 + z * z / n
    center = (rate + z * z / (2 * n)) / shrink
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / shrink
    return max(0.0, min(rate, center - half)), min(1.0, max(rate, center + half))


def bootstrap_estimate(
    metric: Metric | Sums,
    n: int,
    *,
    clusters: NDArray[np.intp] | None = None,
    level: float = LEVEL,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Estimate:
    """A metric that is not a mean: its value on all rows, the bootstrap standard error and
    the percentile interval. Resamples where the metric is undefined (say, one class only
    for AUC) are skipped."""
    value = value_of(metric, n)
    values = finite(draw_values(metric, n, clusters, draws, seed)) if n else finite([])
    method = "bootstrap" if clusters is None else "cluster bootstrap"
    g = None if clusters is None else len(np.unique(clusters))
    if len(values) < 2:
        return Estimate(
            value=value, se=math.nan, low=math.nan, high=math.nan, n=n, method=method, clusters=g
        )
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Estimate(
        value=value,
        se=float(values.std(ddof=1)),
        low=float(low),
        high=float(high),
        n=n,
        method=method,
        clusters=g,
    )
