"""LightGBM: ``assay_callback()``, a callback of LightGBM's ``env`` protocol.

    from assay.integrations.lightgbm import assay_callback
    booster = lgb.train(params, train, 100, valid_sets=[valid],
                        callbacks=[assay_callback(project="churn")])

Logs ``params`` as config (``config.lightgbm.learning_rate``), every evaluation result of
every iteration as ``<data>/<metric>`` at the iteration's number (``valid_0/l2`` at step
0, 1, ...; ``lgb.cv`` logs the mean as ``valid/l2`` and ``valid/l2_std``), and the best
score so far in the summary: ``best_iteration`` (counted from 1, like LightGBM's
``Booster.best_iteration``), ``best_score`` and ``best_metric``, for the ``metric`` you
name or else the first result on a validation set. With ``log_model=True`` the booster is
logged as a ``model`` artifact (``model.txt``) when training ends.

A run this callback started is finished after the last scheduled iteration. Early
stopping ends training without telling callbacks, so then call ``callback.finish()``
(or open the run yourself: ``with assay.init(...)``); a run still open is finished when
the process exits. LightGBM 4.0 and later is supported.
"""

from __future__ import annotations

from typing import Any

from assay.integrations._common import (
    Tracking,
    artifact_name,
    check_version,
    config_tree,
    import_framework,
    log_saved_model,
    number,
)

MINIMUM = "4.0"
INTEGRATION = "lightgbm"


def _framework() -> Any:
    lgb = import_framework("lightgbm", "LightGBM", "lightgbm", INTEGRATION)
    check_version("LightGBM", getattr(lgb, "__version__", "unknown"), MINIMUM, None, INTEGRATION)
    return lgb


class AssayLightGBMCallback:
    """What ``assay_callback()`` returns: call it with LightGBM's ``env``."""

    # After record_evaluation (20), before early_stopping (30): the iteration that stops
    # training is logged too.
    order = 25
    before_iteration = False

    def __init__(
        self,
        *,
        metric: str | None = None,
        log_model: bool = False,
        model_name: str | None = None,
        project: str | None = None,
        **init: Any,
    ) -> None:
        self.lightgbm_version = str(_framework().__version__)
        self.metric = metric
        self.log_model = log_model
        self.model_name = model_name
        self.tracking = Tracking(INTEGRATION, {"project": project, **init})
        self.best: tuple[int, float] | None = None
        self.best_metric: str | None = None
        self._model: Any = None
        self._training = False

    def __call__(self, env: Any) -> None:
        if env.iteration == env.begin_iteration or not self._training:
            self._begin(env)
        self._model = env.model
        if self.tracking.run is None:
            return
        row: dict[str, Any] = {}
        chosen: tuple[str, float, bool] | None = None
        with self.tracking.safely("reading the evaluation results"):
            train_name = getattr(env.model, "_train_data_name", "training")
            for result in env.evaluation_result_list or []:
                data, name, value, higher_better = result[:4]
                key = f"{data}/{name}".replace(" ", "/")
                if len(result) > 4:  # lgb.cv: ("valid", "l2", mean, higher_better, std)
                    row[f"{key}_std"] = result[4]
                    validation = data != "train"
                else:
                    validation = data != train_name
                row[key] = value
                wanted = self.metric == key if self.metric else validation
                if chosen is None and wanted and number(value) is not None:
                    chosen = (key, float(value), bool(higher_better))
        self.tracking.log(row, step=env.iteration)
        if chosen is not None:
            self._improve(env.iteration, *chosen)
        if env.iteration >= env.end_iteration - 1:
            self.finish()

    def _begin(self, env: Any) -> None:
        if self._training:  # the last training stopped early and was not finished
            self.finish()
        self._training = True
        self.best, self.best_metric = None, None
        if self.tracking.start() is not None:
            self.tracking.update_config({"lightgbm": config_tree(dict(env.params))})

    def _improve(self, iteration: int, key: str, value: float, higher_better: bool) -> None:
        if self.best is not None and self.best_metric == key:
            better = value > self.best[1] if higher_better else value < self.best[1]
            if not better:
                return
        self.best, self.best_metric = (iteration, value), key
        self.tracking.update_summary(
            {"best_iteration": iteration + 1, "best_score": value, "best_metric": key}
        )

    def finish(self, model: Any = None) -> None:
        """End the tracking of this training: log the model if asked, and finish the run
        if this callback started it. Called by itself after the last iteration."""
        if not self._training:
            return
        self._training = False
        model = model if model is not None else self._model
        if self.log_model and model is not None and self.tracking.run is not None:
            with self.tracking.safely("logging the model"):
                self._log_model(model)
        self.tracking.finish()

    def _log_model(self, model: Any) -> None:
        run = self.tracking.run
        if run is None or not hasattr(model, "save_model"):
            return
        name = artifact_name(self.model_name or f"{run.name}-lightgbm", "lightgbm-model")
        metadata = {"framework": "lightgbm", "lightgbm_version": self.lightgbm_version}
        log_saved_model(run, "model.txt", model.save_model, name=name, metadata=metadata)


def assay_callback(
    *,
    metric: str | None = None,
    log_model: bool = False,
    model_name: str | None = None,
    project: str | None = None,
    **init: Any,
) -> AssayLightGBMCallback:
    """A LightGBM callback tracking the training with Assay (see the module docstring).

    ``metric``: the key (``valid_0/auc``) whose best value the summary records.
    ``log_model``: log the booster as a ``model`` artifact named ``model_name`` at the end.
    ``project`` and ``init``: ``assay.init`` arguments, used when no run is active."""
    return AssayLightGBMCallback(
        metric=metric, log_model=log_model, model_name=model_name, project=project, **init
    )
