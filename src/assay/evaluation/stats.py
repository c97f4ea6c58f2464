"""The statistics of an evaluation: estimates with standard errors, paired differences, the gate.

Everything here is pure numpy/scipy over per-item arrays; tests check each figure against
scipy and statsmodels. Conventions:

- a *unit* is what is sampled independently: an item, or a cluster of items when a cluster
  column is given (items sharing a passage, a user, a topic are not independent);
- means get the CLT standard error (cluster-robust when there are clusters) and a t interval
  with n-1 (clusters-1) degrees of freedom; pass rates get Wilson's interval (Agresti-Min's
  when paired), on the effective number of items when there are clusters; metrics that are
  not means (F1, AUC, RMSE) get a percentile bootstrap over units;
- a difference is always candidate - baseline on the same items, oriented so that positive
  is better when the gate reads it (``higher_is_better=False`` flips the sign).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Metric = Callable[[NDArray[np.intp]], float]  # rows -> metric value on those rows

LEVEL = 0.95
BOOTSTRAP_DRAWS = 1000


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float
    low: float
    high: float
    n: int  # items
    method: str  # "t", "clustered t", "bootstrap", "cluster bootstrap"
    clusters: int | None = None


@dataclass(frozen=True)
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


# ---- one sample -------------------------------------------------------------------------------


def _t_interval(value: float, se: float, df: float, level: float) -> tuple[float, float]:
    from scipy import stats

    if se == 0 or not math.isfinite(se) or df <= 0:
        return (value, value) if se == 0 else (-math.inf, math.inf)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return value - half, value + half


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
        return Estimate(value, se, low, high, n, "Wilson")
    se, g = clustered_se(x, clusters)
    low, high = wilson(value, effective_items(se**2, value * (1 - value) / n, n, g), level)
    return Estimate(value, se, low, high, n, "clustered Wilson", g)


def t_estimate(
    x: Array, clusters: NDArray[np.intp] | None = None, level: float = LEVEL
) -> Estimate:
    """Mean with its CLT (or cluster-robust) standard error and t interval."""
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "t")
    value = float(x.mean())
    if clusters is not None:
        se, g = clustered_se(x, clusters)
        low, high = _t_interval(value, se, g - 1, level)
        return Estimate(value, se, low, high, n, "clustered t", g)
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    low, high = _t_interval(value, se, n - 1, level)
    return Estimate(value, se, low, high, n, "t")


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


# ---- bootstrap --------------------------------------------------------------------------------


def _units(n: int, clusters: NDArray[np.intp] | None) -> list[NDArray[np.intp]] | None:
    if clusters is None:
        return None
    _, codes = np.unique(clusters, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return list(np.split(order, bounds))


def resamples(
    n: int, clusters: NDArray[np.intp] | None, draws: int, seed: int
) -> list[NDArray[np.intp]]:
    """Row indices of ``draws`` bootstrap resamples: rows, or whole clusters, with replacement."""
    rng = np.random.default_rng(seed)
    units = _units(n, clusters)
    if units is None:
        return list(rng.integers(0, n, size=(draws, n)))
    g = len(units)
    return [np.concatenate([units[u] for u in rng.integers(0, g, size=g)]) for _ in range(draws)]


def _finite(values: Sequence[float] | Array) -> Array:
    array = np.asarray(values, dtype=float)
    finite: Array = array[np.isfinite(array)]
    return finite


@dataclass(frozen=True)
class Sums:
    """A metric that is a function of sums over rows (F1 of confusion counts, RMSE of squared
    errors): ``combine(column sums of vectors)``. Its bootstrap needs no per-draw Python: the
    resamples are multinomial weights, and every draw's sums are one matrix product."""

    vectors: Array  # one row per item (summed over its repeats), k columns
    combine: Callable[[Array], Array]  # (draws x k) sums -> (draws,) values

    def value(self, rows: NDArray[np.intp]) -> float:
        return float(self.combine(self.vectors[rows].sum(axis=0)[None, :])[0])


CHUNK_CELLS = 1 << 21  # weights built per chunk of draws: about 16 MB at a time


def _weight_chunks(
    n: int, clusters: NDArray[np.intp] | None, draws: int, seed: int
) -> Iterator[NDArray[np.float64]]:
    """Bootstrap weights, a chunk of draws at a time: how often each row (or its whole
    cluster) is drawn. Resampling with replacement, counted with one bincount per chunk."""
    rng = np.random.default_rng(seed)
    codes = None
    g = n
    if clusters is not None:
        codes = np.unique(clusters, return_inverse=True)[1]
        g = int(codes.max()) + 1
    step = max(1, CHUNK_CELLS // max(g, 1))
    for start in range(0, draws, step):
        c = min(step, draws - start)
        # int32 halves the cost of drawing; c * g <= CHUNK_CELLS fits it
        picks = (
            rng.integers(0, g, size=(c, g), dtype=np.int32)
            + (np.arange(c, dtype=np.int32) * g)[:, None]
        )
        counts = np.bincount(picks.ravel(), minlength=c * g).reshape(c, g).astype(float)
        yield counts if codes is None else counts[:, codes]


def _draws(
    metric: Metric | Sums, n: int, clusters: NDArray[np.intp] | None, draws: int, seed: int
) -> Array:
    if isinstance(metric, Sums):
        with np.errstate(divide="ignore", invalid="ignore"):
            parts = [
                metric.combine(w @ metric.vectors) for w in _weight_chunks(n, clusters, draws, seed)
            ]
        return np.concatenate(parts) if parts else np.empty(0)
    return np.asarray([metric(rows) for rows in resamples(n, clusters, draws, seed)], dtype=float)


def _difference(candidate: Sums, baseline: Sums) -> Sums:
    """candidate - baseline as one ``Sums``: both metrics' columns side by side, so one set of
    bootstrap weights serves both."""
    k = candidate.vectors.shape[1]

    def combine(sums: Array) -> Array:
        return candidate.combine(sums[:, :k]) - baseline.combine(sums[:, k:])

    return Sums(np.hstack([candidate.vectors, baseline.vectors]), combine)


def value_of(metric: Metric | Sums, n: int) -> float:
    """The metric on all ``n`` rows."""
    everything = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return metric.value(everything) if isinstance(metric, Sums) else metric(everything)


def bootstrap_estimate(
    metric: Metric | Sums,
    n: int,
    clusters: NDArray[np.intp] | None = None,
    level: float = LEVEL,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Estimate:
    """A metric that is not a mean: its value on all rows, the bootstrap standard error and
    the percentile interval. Resamples where the metric is undefined (say, one class only
    for AUC) are skipped."""
    value = value_of(metric, n)
    values = _finite(_draws(metric, n, clusters, draws, seed)) if n else _finite([])
    method = "bootstrap" if clusters is None else "cluster bootstrap"
    g = None if clusters is None else len(np.unique(clusters))
    if len(values) < 2:
        return Estimate(value, math.nan, math.nan, math.nan, n, method, g)
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Estimate(value, float(values.std(ddof=1)), float(low), float(high), n, method, g)


# ---- paired differences ---------------------------------------------------------------------


def is_binary(x: Array) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


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
    return Difference(diff, se, low, high, n, p, test, sd, clusters=g, center=center)


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
    return Difference(est.value, est.se, est.low, est.high, n, p, test, sd, df, est.clusters)


def paired_bootstrap(
    candidate: Metric | Sums,
    baseline: Metric | Sums,
    n: int,
    clusters: NDArray[np.intp] | None = None,
    level: float = LEVEL,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Difference:
    """Difference of a non-mean metric, both sides computed on the same resampled items."""
    value = value_of(candidate, n) - value_of(baseline, n)
    g = None if clusters is None else len(np.unique(clusters))
    if n == 0:
        return Difference(value, math.nan, math.nan, math.nan, 0, math.nan, "paired bootstrap")
    if isinstance(candidate, Sums) and isinstance(baseline, Sums):
        both = _draws(_difference(candidate, baseline), n, clusters, draws, seed)
    else:
        both = _draws(candidate, n, clusters, draws, seed) - _draws(
            baseline, n, clusters, draws, seed
        )
    diffs = _finite(both)
    if len(diffs) < 2:
        return Difference(value, math.nan, math.nan, math.nan, n, math.nan, "paired bootstrap")
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    below, above = float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))
    p = min(1.0, 2 * min(below, above))
    se = float(diffs.std(ddof=1))
    test = "paired bootstrap"
    return Difference(value, se, float(low), float(high), n, p, test, None, None, g, diffs)


# ---- the gate -----------------------------------------------------------------------------------


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


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1), as statsmodels'
    ``multipletests(method="holm")``."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(pvalues: Sequence[float], level: float = LEVEL) -> list[float]:
    """The confidence level each regression test is held to under Holm's procedure, as a
    two-sided interval whose far end decides it: the i-th smallest p-value, when rejected, is
    tested at tail alpha/(m-i); every test not rejected at alpha/(m-k), k the rejections. So
    a check fails exactly when its interval at this level lies wholly beyond the tolerance
    (the compatible intervals of Strassburger and Bretz, 2008, for what is not rejected)."""
    alpha = (1 - level) / 2
    m = len(pvalues)
    adjusted = holm(pvalues)
    rejected = sum(1 for p in adjusted if p < alpha)
    order = sorted(range(m), key=lambda i: pvalues[i])
    levels = [level] * m
    for rank, i in enumerate(order):
        held = rank if adjusted[i] < alpha else rejected
        levels[i] = 1 - 2 * alpha / (m - held)
    return levels


def interval(d: Difference, level: float) -> tuple[float, float]:
    """The interval of a difference at another level, computed as its own interval was:
    bootstrap percentiles, a t interval, or a normal (Agresti-Min) interval."""
    from scipy import stats

    if d.draws is not None:
        tail = (1 - level) / 2
        low, high = np.quantile(d.draws, [tail, 1 - tail])
        return float(low), float(high)
    if d.df is not None:
        return _t_interval(d.diff, d.se, d.df, level)
    if not math.isfinite(d.se):
        return math.nan, math.nan
    half = float(stats.norm.ppf(0.5 + level / 2)) * d.se
    low, high = d.middle - half, d.middle + half
    return (max(-1.0, low), min(1.0, high)) if d.center is not None else (low, high)


def decide(p_fail_adjusted: float, p_pass: float, level: float = LEVEL) -> str:
    """Fail when the (Holm-adjusted) regression test rejects; pass when the CI's near end is
    above -tolerance; inconclusive otherwise."""
    alpha = (1 - level) / 2
    if p_fail_adjusted < alpha:
        return "fail"
    if p_pass < alpha:
        return "pass"
    return "inconclusive"


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


# ---- power --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Power:
    items: int
    sd: float
    effect: float
    assumed: str


def items_for_power(
    baseline_rate: float | None,
    delta: float,
    paired_sd: float | None = None,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Power:
    """Items a paired comparison needs to detect a drop of ``delta`` beyond ``tolerance``
    with the given power (two-sided test at ``alpha``; the exact noncentral-t power of the
    paired t test, as statsmodels' ``TTestPower``). Without ``paired_sd`` the two models'
    pass/fail outcomes are taken as independent, the widest case for a pair of models
    evaluated on the same items."""
    from scipy import stats

    effect = delta - tolerance
    if effect <= 0:
        raise ValueError(f"delta ({delta}) must exceed the tolerance ({tolerance})")
    if paired_sd is not None:
        sd, assumed = paired_sd, f"per-item difference sd {paired_sd:g}"
    else:
        if baseline_rate is None or not 0 < baseline_rate < 1:
            raise ValueError("give --baseline-rate between 0 and 1, or --paired-sd")
        worse = min(max(baseline_rate - delta, 0.0), 1.0)
        sd = math.sqrt(baseline_rate * (1 - baseline_rate) + worse * (1 - worse))
        assumed = "independent outcomes (no --paired-sd given)"

    def achieved(n: int) -> float:
        df = n - 1
        crit = stats.t.ppf(1 - alpha / 2, df)
        nc = effect / sd * math.sqrt(n)
        return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))

    low, high = 2, 2
    while achieved(high) < power:
        low, high = high, high * 2
    while low < high:
        mid = (low + high) // 2
        if achieved(mid) >= power:
            high = mid
        else:
            low = mid + 1
    return Power(high, sd, effect, assumed)
