"""Effect sizes for people to read next to the p-values (they do not decide anything).

- PSI (population stability index) over ten reference-quantile bins plus a missing bin,
  or over the categories; proportions are floored at 1e-4 so an empty bin stays finite.
  The usual reading: < 0.1 small, 0.1-0.25 moderate, > 0.25 large.
- Normalised Wasserstein: the earth mover's distance between the two distributions of
  non-missing numbers, in reference standard deviations (0.25 = a quarter-SD shift).
- Jensen-Shannon distance (base 2, in [0, 1]) between the category proportions.
"""

from __future__ import annotations

import math

import numpy as np

from assay.monitoring.stattests import Array, StepCdf

FLOOR = 1e-4
GRID = np.linspace(0.0005, 0.9995, 1000)


def psi(expected: Array, actual: Array) -> float:
    e = np.maximum(expected / max(expected.sum(), 1e-300), FLOOR)
    a = np.maximum(actual / max(actual.sum(), 1e-300), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(ref: StepCdf, cur: StepCdf, bins: int = 10) -> float:
    edges = np.unique(ref.quantiles(np.arange(1, bins) / bins))
    return psi(_bin_shares(ref, edges), _bin_shares(cur, edges))


def _bin_shares(side: StepCdf, edges: Array) -> Array:
    """Shares of all rows in (-inf, e1], (e1, e2], ..., (ek, inf) and the missing bin."""
    present = side.present / side.rows if side.rows else 0.0
    cdf = side.at(edges) if side.present else np.zeros(len(edges))
    within = np.diff(np.concatenate(([0.0], cdf, [1.0]))) * present
    return np.append(within, 1.0 - present)


def wasserstein(ref: StepCdf, cur: StepCdf, scale: float) -> float | None:
    """W1 between the non-missing parts over a 1,000-point quantile grid, in ``scale``s."""
    if not ref.present or not cur.present or not scale > 0 or not math.isfinite(scale):
        return None
    with np.errstate(invalid="ignore"):  # inf - inf where both tails are infinite
        gap = np.abs(ref.quantiles(GRID) - cur.quantiles(GRID))
    finite = gap[np.isfinite(gap)]
    value = float(np.mean(finite)) if len(finite) else math.inf
    return value / scale


def label_psi(ref: dict[str, int], cur: dict[str, int]) -> float:
    keys = sorted(set(ref) | set(cur))
    return psi(_counts(ref, keys), _counts(cur, keys))


def jensen_shannon(ref: dict[str, int], cur: dict[str, int]) -> float:
    keys = sorted(set(ref) | set(cur))
    p, q = _counts(ref, keys), _counts(cur, keys)
    p, q = p / max(p.sum(), 1), q / max(q.sum(), 1)
    m = (p + q) / 2
    return float(math.sqrt(max(0.0, (_kl(p, m) + _kl(q, m)) / 2)))


def _kl(p: Array, q: Array) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _counts(counts: dict[str, int], keys: list[str]) -> Array:
    return np.array([counts.get(k, 0) for k in keys], dtype=np.float64)
