"""The measured cost of predict calls, and the limits batches are sized within."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Limits:
    max_batch_size: int = 64  # rows per predict call
    max_latency_s: float = 0.005  # the budget one predict call is sized to
    max_queue_s: float = 1.0  # a request expected to wait longer is refused (503)
    max_queue_rows: int = 65_536  # and so is one finding this many rows queued


class Cost:
    """The measured cost of a predict call: ``fixed + per_row * rows`` seconds, fitted
    by least squares on the last 64 calls (refitted every 8). Calls that all took the
    same number of rows cannot tell the two apart: their cost is then read as all per
    row (the most cautious reading) and the next call may take twice as many rows, so
    that a second size is measured; else a batch sized by that reading would never grow
    past it."""

    def __init__(self) -> None:
        self.samples: deque[tuple[int, float]] = deque(maxlen=64)
        self.fixed = 0.0
        self.per_row = 0.0
        self.known = False
        self.explore = 0  # rows the next call may take while one size is all measured

    def add(self, rows: int, seconds: float) -> None:
        self.samples.append((rows, seconds))
        if not self.known or len(self.samples) % 8 == 0:
            self._fit()

    def _fit(self) -> None:
        rows = np.array([r for r, _ in self.samples], dtype=float)
        secs = np.array([s for _, s in self.samples], dtype=float)
        if np.ptp(rows) > 0:
            slope, intercept = np.polyfit(rows, secs, 1)
            self.per_row, self.fixed = max(float(slope), 0.0), max(float(intercept), 0.0)
            self.explore = 0
        else:
            self.fixed, self.per_row = 0.0, float(np.median(secs / rows))
            self.explore = 2 * int(rows[0])
        self.known = True

    def of(self, rows: int) -> float:
        return self.fixed + self.per_row * rows

    def limit(self, limits: Limits) -> int:
        """Rows per call: the most that fit the budget (when even one row costs more than
        the budget, as many as cost at most twice one row; while one size is all that was
        measured, twice that size), within [1, max_batch_size]."""
        if not self.known or self.per_row <= 0:
            return limits.max_batch_size
        budget = max(limits.max_latency_s, 2 * self.of(1))
        fits = int((budget - self.fixed) / self.per_row)
        return min(max(fits, self.explore, 1), limits.max_batch_size)

    def wait(self, rows: int, limits: Limits) -> float:
        """Seconds until ``rows`` queued rows have been predicted."""
        if not self.known:
            return 0.0
        size = self.limit(limits)
        return math.ceil(rows / size) * self.of(size)
