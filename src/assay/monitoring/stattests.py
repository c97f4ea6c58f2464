"""The two-sample tests behind drift, and Holm's step-down rule over them.

- Numbers: Kolmogorov-Smirnov between two step CDFs (a sorted sample, or a KLL sketch's
  items and weights). Missing values are a point mass below every number, so a change in
  the missing rate is a change in distribution. When a side is a sketch, ``eps`` bounds
  how far its CDF can be from the data's (the error measured when the sketch was built,
  else the sketch's published rank error), so the statistic is shrunk by ``eps`` before
  the p-value: the p-value is never smaller than the exact test's would be.
  The p-value is the asymptotic Kolmogorov distribution at the effective size
  ``n*m/(n+m)``, which is slightly conservative against the exact two-sample law.
- Labels: a 2 x K test of homogeneity. Categories too rare to meet the expected-count rule
  are merged into "other"; Pearson's chi-square when every expected count is at least
  ``ASYMPTOTIC_MIN_EXPECTED``, else Fisher's exact test (2 x 2) or a sequential Monte Carlo test
  drawing tables with the same margins. The chi-square distribution's far tail is too light
  even with large expected counts (p-values under 1e-4 came 1.1 to 1.2 times too often
  with 6 to 14 categories in 1,000-row windows, 2 million simulated tables each), so an
  asymptotic p-value small enough to matter (at most ``gate``, the largest level Holm
  compares with) is replaced by the Monte Carlo one: every p-value that can decide is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

MIN_EXPECTED = 5.0  # rarer categories are merged into "other"
ASYMPTOTIC_MIN_EXPECTED = 10.0  # below this, an exact or Monte Carlo p-value
HITS = 20  # sequential Monte Carlo stops after this many tables as extreme
MC_MAX_DRAWS = 200_000
RESOLUTION = 5  # draws per 1/threshold: no table as extreme gives p = threshold / RESOLUTION
OTHER = "<other>"


@dataclass(frozen=True)
class StepCdf:
    """A right-continuous step CDF over the non-missing values, plus the missing mass."""

    values: Array  # strictly increasing
    cum: Array  # P(X <= values[i]) among non-missing values; cum[-1] == 1
    rows: int  # all rows, missing included
    missing: int
    eps: float = 0.0  # the normalised rank error of ``cum`` (0 when exact)

    @classmethod
    def exact(cls, values: Array, rows: int, whole: bool = False) -> StepCdf:
        """From a sample's non-missing values (sorted here, ties collapsed).

        ``whole``: the values are known to be whole numbers, so when their range is no
        wider than the sample they are counted (linear time) instead of sorted; the
        result is the same.
        """
        n = len(values)
        if n == 0:
            return cls(values, values, rows, rows)
        counted = _counted(values) if whole else None
        if counted is not None:
            points, sizes = counted
            return cls(points, np.cumsum(sizes) / n, rows, rows - n)
        ordered = np.sort(values)
        distinct = ordered[1:] != ordered[:-1]
        if distinct.all():  # no ties: every value is a step (the common case for floats)
            return cls(ordered, np.arange(1, n + 1) / n, rows, rows - n)
        ends = np.append(np.flatnonzero(distinct), n - 1)
        return cls(ordered[ends], (ends + 1) / n, rows, rows - n)

    @classmethod
    def weighted(cls, values: Array, weights: Array, rows: int, eps: float) -> StepCdf:
        """From weighted points (a sketch's retained items), in any order."""
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
        if len(values) == 0:
            return cls(values, values, rows, rows, eps)
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        cum = np.cumsum(np.add.reduceat(weights, starts))
        present = float(cum[-1])
        return cls(values[starts], cum / present, rows, rows - round(present), eps)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def extended(self) -> tuple[Array, Array]:
        """Values with -inf prepended for the missing mass, and the CDF over all rows."""
        p = self.missing / self.rows if self.rows else 0.0
        values = np.concatenate(([-math.inf], self.values))
        cum = np.concatenate(([p], p + (1 - p) * self.cum))
        return values, cum

    def quantiles(self, probs: Array) -> Array:
        """Quantiles of the non-missing values (the smallest value whose CDF reaches p)."""
        idx = np.searchsorted(self.cum, probs, side="left")
        return self.values[np.minimum(idx, len(self.values) - 1)]

    def at(self, points: Array, side: str = "right") -> Array:
        """P(X <= x) (side="right") or P(X < x) (side="left") among non-missing values."""
        idx = np.searchsorted(self.values, points, side=side)  # type: ignore[call-overload]
        if len(self.values) == 0:
            return np.zeros(len(idx))
        return np.where(idx > 0, self.cum[np.maximum(idx - 1, 0)], 0.0)

    def over_rows(self, points: Array, side: str) -> Array:
        """``at`` over all rows, missing values a point mass at -inf (finite ``points``
        or -inf), without copying this side's arrays."""
        p = self.missing / self.rows if self.rows else 0.0
        out = p + (1 - p) * self.at(points, side)
        if side == "left":
            out = np.where(points == -math.inf, 0.0, out)
        return out


def _counted(values: Array) -> tuple[Array, NDArray[np.int64]] | None:
    """The distinct whole numbers of ``values`` and how many times each occurs, by counting
    (None when their range is wider than the sample or they are not whole)."""
    low, high = float(values.min()), float(values.max())
    if not (math.isfinite(low) and math.isfinite(high)) or high - low >= len(values):
        return None
    offsets = values - low
    as_int = offsets.astype(np.int64)
    if not np.array_equal(as_int, offsets):
        return None
    counts = np.bincount(as_int)
    present = np.flatnonzero(counts)
    return present.astype(np.float64) + low, counts[present].astype(np.int64)


def ks_distance(a: StepCdf, b: StepCdf) -> float:
    """sup |F_a - F_b| over the real line, missing values as a point mass at -inf.

    Walks the side with fewer points: on each interval between its points its CDF is flat
    while the other's is monotone, so the sup is at an interval's ends. The other side is
    only looked up at those points (a 100,000-row window is not copied per test).
    """
    if len(a.values) > len(b.values):
        a, b = b, a
    a_vals, a_cum = a.extended()
    right = b.over_rows(a_vals, "right")
    left = b.over_rows(a_vals, "left")
    d = float(np.abs(a_cum - right).max())
    if len(a_vals) > 1:
        d = max(d, float(np.abs(a_cum[:-1] - left[1:]).max()))
    return max(d, float(left[0]))


def ks_test(a: StepCdf, b: StepCdf) -> tuple[float, float]:
    """(statistic, p-value) of the two-sample KS test, allowing for sketch rank error."""
    from scipy.stats import kstwobign

    d = ks_distance(a, b)
    slack = a.eps * (a.present / a.rows) + b.eps * (b.present / b.rows)
    n_eff = a.rows * b.rows / (a.rows + b.rows)
    p = float(kstwobign.sf(math.sqrt(n_eff) * max(d - slack, 0.0)))
    return d, min(1.0, p)


@dataclass(frozen=True)
class LabelTable:
    """A 2 x K table after rare categories were merged."""

    labels: list[str]
    reference: NDArray[np.int64]
    current: NDArray[np.int64]


def merge_rare(ref: dict[str, int], cur: dict[str, int]) -> LabelTable:
    """Merge the categories whose expected count in the smaller side is under MIN_EXPECTED
    into one "other" category (when there are two or more of them)."""
    labels = sorted(set(ref) | set(cur), key=lambda k: (-(ref.get(k, 0) + cur.get(k, 0)), k))
    r = np.array([ref.get(k, 0) for k in labels], dtype=np.int64)
    c = np.array([cur.get(k, 0) for k in labels], dtype=np.int64)
    total = r + c
    smaller = min(int(r.sum()), int(c.sum()))
    expected = total * smaller / max(int(total.sum()), 1)
    keep = int(np.sum(expected >= MIN_EXPECTED))
    if len(labels) - keep < 2:
        return LabelTable(labels, r, c)
    labels = [*labels[:keep], OTHER]
    r = np.append(r[:keep], r[keep:].sum())
    c = np.append(c[:keep], c[keep:].sum())
    return LabelTable(labels, r, c)


def chi_square(
    table: LabelTable, threshold: float, gate: float, seed: int = 0
) -> tuple[float, float, str]:
    """(statistic, p-value, test) of homogeneity of the two rows of ``table``.

    Pearson's chi-square when every expected count reaches ASYMPTOTIC_MIN_EXPECTED (with
    expected counts of 5-10 its far tail is too light: 1.3 times too many p-values under
    0.001 in 100-row windows by simulation) and its p-value is above ``gate``; else Fisher's
    exact test for a 2 x 2 table, or a Monte Carlo p-value from tables with the same
    margins (enough draws to resolve ``threshold``; stops early once clearly not small).
    Whatever the counts, a p-value at most ``gate`` is exact given the margins, so a rule
    that rejects only at levels up to ``gate`` keeps its level.
    """
    from scipy.stats import chi2, fisher_exact

    rows = np.vstack([table.reference, table.current]).astype(np.float64)
    rows = rows[:, rows.sum(axis=0) > 0]
    if rows.shape[1] < 2:
        return 0.0, 1.0, "none (a single category)"
    stat, expected = _pearson(rows)
    if expected.min() >= ASYMPTOTIC_MIN_EXPECTED:
        p = float(chi2.sf(stat, rows.shape[1] - 1))
        if p > gate:
            return stat, p, "chi-square"
    if rows.shape[1] == 2:
        p = float(fisher_exact(rows.astype(np.int64)).pvalue)
        return stat, min(1.0, p), "fisher exact"
    return stat, _monte_carlo(rows, stat, threshold, seed), "chi-square (Monte Carlo)"


def _pearson(rows: Array) -> tuple[float, Array]:
    col = rows.sum(axis=0)
    expected = np.outer(rows.sum(axis=1), col) / col.sum()
    return float(((rows - expected) ** 2 / expected).sum()), expected


def _monte_carlo(rows: Array, observed: float, threshold: float, seed: int) -> float:
    """Sequential Monte Carlo (Besag and Clifford): draw tables with the observed margins
    until ``HITS`` are at least as extreme (p = hits / draws) or the budget is spent
    (p = (hits + 1) / (draws + 1)); both are valid p-values. The budget resolves
    ``threshold``: a table more extreme than every draw gets threshold / RESOLUTION."""
    rng = np.random.default_rng(seed)
    totals = rows.sum(axis=0).astype(np.int64)
    n_cur = int(rows[1].sum())
    wanted = math.ceil(RESOLUTION / max(threshold, 1e-12))
    budget = int(min(MC_MAX_DRAWS, max(2_000, wanted)))
    exp_c = totals * (n_cur / totals.sum())
    exp_r = totals - exp_c
    hits, done, size = 0, 0, 500
    while done < budget:
        size = min(size, budget - done)
        cur = rng.multivariate_hypergeometric(totals, n_cur, size=size).astype(np.float64)
        ref = totals - cur
        stats = ((cur - exp_c) ** 2 / exp_c + (ref - exp_r) ** 2 / exp_r).sum(axis=1)
        extreme = np.flatnonzero(stats >= observed * (1 - 1e-9))
        if hits + len(extreme) >= HITS:
            stop = int(extreme[HITS - hits - 1]) + 1
            return HITS / (done + stop)
        hits, done, size = hits + len(extreme), done + size, size * 4
    return (hits + 1) / (done + 1)


def holm(p_values: dict[str, float], alpha: float) -> tuple[dict[str, bool], dict[str, float]]:
    """Holm's step-down: which hypotheses are rejected at family-wise level ``alpha``, and
    the Holm-adjusted p-values (reject exactly when the adjusted p-value is <= alpha)."""
    names = sorted(p_values, key=lambda k: p_values[k])
    m = len(names)
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, name in enumerate(names):
        running = max(running, min(1.0, (m - i) * p_values[name]))
        adjusted[name] = running
    return {k: adjusted[k] <= alpha for k in names}, adjusted
