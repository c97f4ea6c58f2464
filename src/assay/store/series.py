"""Series arithmetic shared by every store: merge chunks, last write wins, downsample."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from assay.records import FLOAT, STEP, Columns


def merge(chunks: Sequence[Columns]) -> Columns:
    """Concatenate chunks in write order; one point per step, the last written wins."""
    if len(chunks) == 1 and _strictly_increasing(chunks[0].steps):
        return chunks[0]
    steps = np.concatenate([c.steps for c in chunks]) if chunks else np.empty(0, STEP)
    times = np.concatenate([c.times for c in chunks]) if chunks else np.empty(0, FLOAT)
    values = np.concatenate([c.values for c in chunks]) if chunks else np.empty(0, FLOAT)
    if _strictly_increasing(steps):
        return Columns(steps=steps, times=times, values=values)
    order = np.argsort(steps, kind="stable")
    steps = steps[order]
    keep = np.ones(len(steps), dtype=bool)
    keep[:-1] = steps[1:] != steps[:-1]  # the last of each run of equal steps
    picked = order[keep]
    return Columns(steps=steps[keep], times=times[picked], values=values[picked])


def _strictly_increasing(steps: np.ndarray) -> bool:
    return bool(len(steps) < 2 or np.all(steps[1:] > steps[:-1]))


def window(series: Columns, start: int | None, end: int | None) -> Columns:
    """The points with ``start <= step <= end`` (either bound may be None)."""
    if start is None and end is None:
        return series
    lo = 0 if start is None else int(np.searchsorted(series.steps, start, side="left"))
    hi = len(series) if end is None else int(np.searchsorted(series.steps, end, side="right"))
    return Columns(
        steps=series.steps[lo:hi], times=series.times[lo:hi], values=series.values[lo:hi]
    )


def downsample(series: Columns, points: int) -> Columns:
    """At most ``points`` points: per bucket of consecutive points, its min and its max.

    Spikes survive (a bucket's extremes are kept); first and last points are kept.
    """
    n = len(series)
    if points < 4 or n <= points:
        return series
    buckets = (points - 2) // 2
    size = -(-n // buckets)
    values = series.values
    pad = buckets * size - n
    lows = np.concatenate([np.where(np.isnan(values), np.inf, values), np.full(pad, np.inf)])
    highs = np.concatenate([np.where(np.isnan(values), -np.inf, values), np.full(pad, -np.inf)])
    base = np.arange(buckets) * size
    picks = np.concatenate(
        [
            base + lows.reshape(buckets, size).argmin(axis=1),
            base + highs.reshape(buckets, size).argmax(axis=1),
            [0, n - 1],
        ]
    )
    index = np.unique(np.clip(picks, 0, n - 1))
    return Columns(steps=series.steps[index], times=series.times[index], values=values[index])


def summarise(chunk: Columns) -> tuple[float, float, float, int]:
    """(last, min, max, last_step) of one chunk; NaN where every value is NaN."""
    steps, values = chunk.steps, chunk.values
    idx = len(steps) - 1 - int(np.argmax(steps[::-1]))  # last occurrence of the max step
    finite = values[~np.isnan(values)]
    low = float(finite.min()) if len(finite) else float("nan")
    high = float(finite.max()) if len(finite) else float("nan")
    return float(values[idx]), low, high, int(steps[idx])
