"""Reading runs for MLflow: each metric's latest point's time, and runs as MLflow's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from assay.records import Run
from assay.server.deps import AppState
from assay.server.mlflow import convert


def latest_times(state: AppState, runs: Sequence[Run]) -> dict[str, dict[str, float]]:
    """{run id: {key: time of the point at the key's last step}}: one read per distinct
    last step (runs of one sweep share them), not one per run."""
    groups: dict[int, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for run in runs:
        for key, summary in run.metrics.items():
            ids, keys = groups[summary.last_step]
            ids.add(run.id)
            keys.add(key)
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for step, (ids, keys) in groups.items():
        series = state.store.runs.series(sorted(ids), sorted(keys), 4, step, step)
        for (run_id, key), columns in series.items():
            if len(columns):
                found[run_id][key] = float(columns.times[-1])
    return found


def runs_json(state: AppState, runs: Sequence[Run]) -> list[dict[str, Any]]:
    times = latest_times(state, runs)
    return [convert.run_json(run, times.get(run.id, {})) for run in runs]


def run_json(state: AppState, run: Run) -> dict[str, Any]:
    return runs_json(state, [run])[0]
