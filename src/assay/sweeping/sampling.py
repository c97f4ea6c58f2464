"""Each trial's parameters, from its number and the trials before it: a grid point
(trial n runs point n, so no two trials repeat one), a seeded random draw (trial n of a
seed always draws the same, whichever agent runs it), or Optuna's TPE over the finished
trials' values (seeded by the sweep's seed and the trial number)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import InvalidInput
from assay.extras import need
from assay.records import Trial
from assay.sweeping.space import Param, SweepSpec

if TYPE_CHECKING:
    import optuna


def suggest(spec: SweepSpec, number: int, history: Sequence[Trial] = ()) -> dict[str, Any]:
    """The parameters of trial ``number``."""
    if spec.method == "grid":
        grid = spec.grid()
        if number >= len(grid):
            raise InvalidInput(f"the grid has {len(grid)} points: there is no trial {number}")
        return grid[number]
    if spec.method == "random":
        rng = np.random.default_rng([spec.seed, number])
        return {p.name: _draw(p, rng) for p in spec.parameters}
    return _tpe(spec, number, history)


def _draw(param: Param, rng: np.random.Generator) -> Any:
    if not param.is_range:
        return param.values[int(rng.integers(len(param.values)))]
    assert param.low is not None and param.high is not None
    low, high = param.low, param.high
    if param.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if param.integer:
        return int(min(max(round(value), math.ceil(low)), math.floor(high)))
    return float(value)


def distributions(spec: SweepSpec) -> dict[str, Any]:
    """Optuna's distribution of each parameter."""
    need("optuna", "tpe sweeps and pruning")
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for p in spec.parameters:
        if not p.is_range:
            out[p.name] = CategoricalDistribution(list(p.values))
        elif p.integer:
            assert p.low is not None and p.high is not None
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            assert p.low is not None and p.high is not None
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log)
    return out


def study_of(
    spec: SweepSpec,
    history: Sequence[Trial],
    *,
    sampler: Any = None,
    pruner: Any = None,
    intermediate: dict[int, dict[int, float]] | None = None,
) -> optuna.Study:
    """An in-memory Optuna study holding the sweep's finished trials (complete ones with
    their value, pruned ones with their last value; ``intermediate``: trial number ->
    {step: value}), so Optuna's samplers, pruners and importance read the sweep as their
    own."""
    need("optuna", "tpe sweeps and pruning")
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = (
        optuna.study.StudyDirection.MAXIMIZE
        if spec.goal == "maximize"
        else optuna.study.StudyDirection.MINIMIZE
    )
    study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
    dists = distributions(spec)
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}
    for trial in history:
        state = states.get(trial.state)
        if state is None or (state is TrialState.COMPLETE and trial.value is None):
            continue
        if any(
            n not in trial.params or not dists[n]._contains(_internal(dists[n], trial.params[n]))
            for n in dists
        ):
            continue  # parameters outside the space (the sweep file changed): left out
        study.add_trial(
            create_trial(
                state=state,
                params={n: trial.params[n] for n in dists},
                distributions=dists,
                value=trial.value if state is TrialState.COMPLETE else None,
                intermediate_values=(intermediate or {}).get(trial.number, {}),
            )
        )
    return study


def _internal(dist: Any, value: Any) -> Any:
    try:
        return dist.to_internal_repr(value)
    except (ValueError, TypeError):
        return math.nan


def _tpe(spec: SweepSpec, number: int, history: Sequence[Trial]) -> dict[str, Any]:
    import optuna

    sampler = optuna.samplers.TPESampler(seed=spec.seed * 1_000_003 + number)
    study = study_of(spec, history, sampler=sampler)
    trial = study.ask(distributions(spec))
    return dict(trial.params)
