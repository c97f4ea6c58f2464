"""Optuna: ``AssayCallback``, a study callback recording each trial as a run.

    from assay.integrations.optuna import AssayCallback
    study = optuna.create_study(study_name="lr-search", direction="minimize")
    study.optimize(objective, n_trials=50, callbacks=[AssayCallback(project="digits")])

Optuna calls the callback when a trial ends, so the objective stays as it is. Each trial
becomes one run in the study's group (``group=study.study_name``, job type
``optuna-trial``, named ``trial-<number>``):

- config: the trial's parameters (``config.lr``), with ``optuna.study``,
  ``optuna.trial`` and ``optuna.distributions``;
- metrics: the values the objective reported with ``trial.report(value, step)``, as
  ``intermediate_value`` at Optuna's steps;
- summary: ``value`` (or ``values``, and one entry per name of
  ``study.set_metric_names``), ``trial_number``, ``duration_seconds``, ``state`` and the
  trial's user attributes under ``user_attrs``;
- status and tags: a complete trial is ``finished``, a failed one ``failed``, a pruned
  one ``killed``; the tags are ``optuna`` and the state (``complete``, ``pruned``,
  ``fail``) plus any ``tags`` you give.

Optuna 3.0 and later is supported.
"""

from __future__ import annotations

from typing import Any

import assay
from assay.integrations._common import (
    Tracking,
    check_init_kwargs,
    check_version,
    config_tree,
    import_framework,
    numbers,
)

MINIMUM = "3.0"
INTEGRATION = "optuna"
_STATUS = {"COMPLETE": "finished", "FAIL": "failed", "PRUNED": "killed"}


def _framework() -> Any:
    optuna = import_framework("optuna", "Optuna", "optuna", INTEGRATION)
    check_version("Optuna", getattr(optuna, "__version__", "unknown"), MINIMUM, None, INTEGRATION)
    return optuna


class AssayCallback:
    """Record each finished trial of an Optuna study as an Assay run (see the module's
    docstring). ``project`` and ``init`` are ``assay.init`` arguments; ``group`` defaults
    to the study's name."""

    def __init__(
        self, *, project: str | None = None, tags: list[str] | None = None, **init: Any
    ) -> None:
        _framework()
        self.tags = list(tags or [])
        self.init = check_init_kwargs({"project": project, **init}, INTEGRATION)
        self.run_ids: dict[int, str] = {}  # trial number -> run id

    def __call__(self, study: Any, trial: Any) -> None:
        tracking = Tracking(INTEGRATION, {})
        with tracking.safely(f"recording trial {getattr(trial, 'number', '?')}"):
            self._record(tracking, study, trial)

    def _record(self, tracking: Tracking, study: Any, trial: Any) -> None:
        state = str(getattr(trial.state, "name", trial.state))
        init = dict(self.init)
        config: dict[str, Any] = {**dict(init.pop("config", None) or {}), **trial.params}
        config["optuna"] = {
            "study": study.study_name,
            "trial": trial.number,
            "distributions": {
                name: repr(distribution) for name, distribution in trial.distributions.items()
            },
        }
        arguments: dict[str, Any] = {
            "name": f"trial-{trial.number}",
            "group": study.study_name,
            "job_type": "optuna-trial",
            "reinit": "create_new",  # a run the study itself runs in stays open
            **init,
            "config": config_tree(config),
            "tags": list(dict.fromkeys(["optuna", state.lower(), *self.tags])),
        }
        run = assay.init(**arguments)
        tracking.run, tracking.owned = run, True
        try:
            for step, value in sorted(trial.intermediate_values.items()):
                tracking.log({"intermediate_value": value}, step=int(step))
            tracking.update_summary(self._summary(study, trial, state))
        finally:
            tracking.finish(_STATUS.get(state, "finished"))
        self.run_ids[trial.number] = run.id

    def _summary(self, study: Any, trial: Any, state: str) -> dict[str, Any]:
        summary: dict[str, Any] = {"trial_number": trial.number, "state": state.lower()}
        values = list(trial.values) if trial.values is not None else []
        if len(values) == 1:
            summary["value"] = values[0]
        elif values:
            summary["values"] = values
        names = getattr(study, "metric_names", None)
        if names and len(names) == len(values):
            summary.update(numbers(dict(zip(names, values, strict=True))))
        if trial.duration is not None:
            summary["duration_seconds"] = trial.duration.total_seconds()
        if trial.user_attrs:
            summary["user_attrs"] = dict(trial.user_attrs)
        return summary
