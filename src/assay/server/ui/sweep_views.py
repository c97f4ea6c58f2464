"""What the sweep pages show: the trials as parallel-coordinates data (one axis per
parameter, the metric last; categorical parameters as their choices), parameter
importance and the best trials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assay.errors import AssayError
from assay.records import Sweep, Trial
from assay.sweeping.importance import METHOD, importance
from assay.sweeping.ranking import best_trials
from assay.sweeping.space import SweepSpec, parse_spec

TOP = 10


@dataclass(frozen=True, kw_only=True)
class SweepPage:
    sweep: Sweep
    spec: SweepSpec
    trials: list[Trial]
    best: list[Trial]
    importance: dict[str, float]
    importance_note: str
    counts: dict[str, int]

    @classmethod
    def build(cls, sweep: Sweep, trials: list[Trial]) -> SweepPage:
        spec = parse_spec(sweep.spec)
        try:
            found, note = importance(spec, trials), METHOD
        except (AssayError, ImportError) as exc:  # optuna or scikit-learn missing
            found, note = {}, f"parameter importance needs the sweeps extra ({exc})"
        counts = {
            s: sum(t.state == s for t in trials)
            for s in ("running", "complete", "pruned", "failed")
        }
        return cls(
            sweep=sweep,
            spec=spec,
            trials=trials,
            best=best_trials(spec, trials)[:TOP],
            importance=found,
            importance_note=note,
            counts=counts,
        )

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.spec.parameters]

    def parallel_data(self) -> dict[str, Any]:
        """The finished trials as the parallel-coordinates plot reads them: a numeric
        axis per parameter (a categorical one's choices by position, with their labels)
        and the metric's axis last."""
        shown = [t for t in self.trials if t.state != "running" and t.value is not None]
        config: dict[str, list[Any]] = {}
        labels: dict[str, list[str]] = {}
        for p in self.spec.parameters:
            values = [t.params.get(p.name) for t in shown]
            if p.is_range or all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            ):
                config[p.name] = values
            else:
                choices = [str(c) for c in p.values]
                labels[p.name] = choices
                config[p.name] = [
                    choices.index(str(v)) if str(v) in choices else None for v in values
                ]
        metric = self.spec.metric
        return {
            "runs": [{"id": t.run_id, "name": f"trial {t.number} ({t.state})"} for t in shown],
            "config": config,
            "labels": labels,
            "summary": {metric: [t.value for t in shown]},
            "keys": self.names,
            "metric": metric,
        }
