"""Bootstrap resampling over units (items, or whole clusters), and metrics that are
functions of sums (``Sums``), whose draws are one matrix product per chunk."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Metric = Callable[[NDArray[np.intp]], float]  # rows -> metric value on those rows

LEVEL = 0.95
BOOTSTRAP_DRAWS = 1000


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


def finite(values: Sequence[float] | Array) -> Array:
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


def draw_values(
    metric: Metric | Sums, n: int, clusters: NDArray[np.intp] | None, draws: int, seed: int
) -> Array:
    if isinstance(metric, Sums):
        with np.errstate(divide="ignore", invalid="ignore"):
            parts = [
                metric.combine(w @ metric.vectors) for w in _weight_chunks(n, clusters, draws, seed)
            ]
        return np.concatenate(parts) if parts else np.empty(0)
    return np.asarray([metric(rows) for rows in resamples(n, clusters, draws, seed)], dtype=float)


def paired_sums(candidate: Sums, baseline: Sums) -> Sums:
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
