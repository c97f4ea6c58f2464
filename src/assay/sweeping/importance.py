"""Which parameters mattered: Optuna's fANOVA (functional ANOVA over a random forest
fitted to the complete trials: the share of the metric's variance each parameter
explains), seeded so a page shows the same figures twice."""

from __future__ import annotations

from collections.abc import Sequence

from assay.records import Trial
from assay.sweeping.sampling import study_of
from assay.sweeping.space import SweepSpec

METHOD = "fANOVA (Optuna)"
MIN_TRIALS = 2


def importance(spec: SweepSpec, history: Sequence[Trial]) -> dict[str, float]:
    """Parameter -> importance (summing to 1), most important first; empty with fewer
    than two complete trials or a single parameter value throughout."""
    complete = [t for t in history if t.state == "complete" and t.value is not None]
    varied = [p for p in spec.parameters if len({repr(t.params.get(p.name)) for t in complete}) > 1]
    if len(complete) < MIN_TRIALS or not varied:
        return {}
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    study = study_of(spec, complete)
    found = get_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=0), params=[p.name for p in varied]
    )
    return {name: float(value) for name, value in found.items()}
