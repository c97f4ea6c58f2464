"""Whether a running trial should stop early: Optuna's median or percentile pruner over
the metric the trials logged, step by step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assay.records import Trial
from assay.sweeping.sampling import distributions, study_of
from assay.sweeping.space import Pruner, SweepSpec


def optuna_pruner(pruner: Pruner) -> Any:
    import optuna

    if pruner.kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner.warmup_trials, n_warmup_steps=pruner.min_steps
        )
    return optuna.pruners.PercentilePruner(
        pruner.percentile, n_startup_trials=pruner.warmup_trials, n_warmup_steps=pruner.min_steps
    )


def should_prune(
    spec: SweepSpec,
    trial: Trial,
    current: Mapping[int, float],
    history: Sequence[Trial],
    intermediate: dict[int, dict[int, float]],
) -> bool:
    """True when ``trial``, having logged ``current`` ({step: value} of the metric), does
    worse than the pruner allows against the finished ``history`` (their logged values
    in ``intermediate``, by trial number)."""
    if spec.pruner is None or not current:
        return False
    from optuna.trial import TrialState, create_trial

    pruner = optuna_pruner(spec.pruner)
    study = study_of(spec, history, pruner=pruner, intermediate=intermediate)
    dists = distributions(spec)
    running = create_trial(
        state=TrialState.RUNNING,
        params={n: trial.params[n] for n in dists if n in trial.params},
        distributions={n: d for n, d in dists.items() if n in trial.params},
        intermediate_values=dict(current),
    )
    return bool(pruner.prune(study, running))
