"""The best trials of a sweep: complete ones, best value first by the sweep's goal."""

from __future__ import annotations

from collections.abc import Sequence

from assay.records import Trial
from assay.sweeping.space import SweepSpec


def best_trials(spec: SweepSpec, trials: Sequence[Trial]) -> list[Trial]:
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    sign = -1.0 if spec.goal == "maximize" else 1.0
    return sorted(complete, key=lambda t: (sign * (t.value or 0.0), t.number))
