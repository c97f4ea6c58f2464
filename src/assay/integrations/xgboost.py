"""XGBoost: ``AssayCallback``, an ``xgboost.callback.TrainingCallback``.

    from assay.integrations.xgboost import AssayCallback
    booster = xgb.train(params, dtrain, 100, evals=[(dvalid, "valid")],
                        callbacks=[AssayCallback(project="churn", log_model=True)])

Logs the booster's training parameters as config (``config.xgboost.max_depth``, and the
``params`` you pass as given), every evaluation metric of every boosting round as
``<data>/<metric>`` at the round's number (``valid/rmse`` at step 0, 1, ...; cross
validation adds ``<data>/<metric>_std``), the best iteration and score in the summary
(those early stopping found, else the best of the last metric on the last evaluation set,
as XGBoost's early stopping would choose) and, with ``log_model=True``, the booster as
a ``model`` artifact (``model.json``). XGBoost is imported when ``AssayCallback`` is
first used; versions 2.0 and later are supported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from assay.integrations._common import (
    Tracking,
    artifact_name,
    check_version,
    import_framework,
    log_saved_model,
    number,
)

if TYPE_CHECKING:
    from xgboost.callback import TrainingCallback

MINIMUM = "2.0"
INTEGRATION = "xgboost"

# XGBoost's early stopping maximises metrics whose names start with one of these.
_MAXIMISED = ("auc", "aucpr", "pre", "pre@", "map", "ndcg", "auc@", "aucpr@", "map@", "ndcg@")


def _framework() -> Any:
    xgb = import_framework("xgboost", "XGBoost", "xgboost", INTEGRATION)
    check_version("XGBoost", getattr(xgb, "__version__", "unknown"), MINIMUM, None, INTEGRATION)
    return xgb


def maximised(metric: str) -> bool:
    """Whether XGBoost's early stopping would maximise ``metric``."""
    return metric != "mape" and any(metric.startswith(prefix) for prefix in _MAXIMISED)


def booster_params(config_json: str) -> dict[str, Any]:
    """The training parameters from ``Booster.save_config()``, flat and typed:
    ``{"max_depth": 6, "eta": 0.3, "objective": "reg:squarederror", ...}``."""
    found: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key.endswith("_param") and isinstance(value, dict):
                for name, text in value.items():
                    if not isinstance(text, dict | list):
                        found.setdefault(name, _typed(text))
            elif isinstance(value, dict):
                walk(value)

    config = json.loads(config_json)
    learner = config.get("learner", {})
    walk(learner)
    metrics = [m.get("name") for m in learner.get("metrics", []) if isinstance(m, dict)]
    if metrics:
        found["eval_metric"] = metrics
    return found


def _typed(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    # XGBoost keeps parameters as float32: 0.3 is saved as "0.300000012"
    return float(f"{value:.7g}") if math.isfinite(value) else text


@cache
def _define() -> type[TrainingCallback]:
    xgb = _framework()
    base: Any = xgb.callback.TrainingCallback

    class AssayCallback(base):  # type: ignore[misc]
        """Track an XGBoost training with Assay (see the module's docstring)."""

        def __init__(
            self,
            *,
            params: Mapping[str, Any] | None = None,
            log_model: bool = False,
            model_name: str | None = None,
            project: str | None = None,
            **init: Any,
        ) -> None:
            _framework()
            super().__init__()
            self.params = dict(params or {})
            self.log_model = log_model
            self.model_name = model_name
            self.tracking = Tracking(INTEGRATION, {"project": project, **init})
            self.history: dict[str, dict[str, list[tuple[int, float]]]] = {}

        def before_training(self, model: Any) -> Any:
            self.history = {}
            if self.tracking.start() is None:
                return model
            config: dict[str, Any] = {}
            with self.tracking.safely("reading the booster's parameters"):
                # xgb.cv passes its folds packed together: their parameters are the same
                booster = model if hasattr(model, "save_config") else model.cvfolds[0].bst
                config["xgboost"] = booster_params(booster.save_config())
            if self.params:
                config["params"] = self.params
            self.tracking.update_config(config)
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if self.tracking.run is None:
                return False
            row: dict[str, Any] = {}
            with self.tracking.safely("reading the evaluation log"):
                for data, metrics in evals_log.items():
                    for metric, values in metrics.items():
                        if not values:
                            continue
                        last = values[-1]
                        key = f"{data}/{metric}"
                        if isinstance(last, tuple):
                            row[key], row[f"{key}_std"] = last[0], last[1]
                        else:
                            row[key] = last
                        value = number(row[key])
                        if value is not None:
                            series = self.history.setdefault(data, {}).setdefault(metric, [])
                            series.append((epoch, float(value)))
            self.tracking.log(row, step=epoch)
            return False

        def after_training(self, model: Any) -> Any:
            if self.tracking.run is None:
                return model
            with self.tracking.safely("recording the best iteration"):
                self.tracking.update_summary(self._best(model))
            if self.log_model:
                with self.tracking.safely("logging the model"):
                    self._log_model(model)
            self.tracking.finish()
            return model

        def _best(self, model: Any) -> dict[str, Any]:
            summary: dict[str, Any] = {}
            with self.tracking.safely("counting the boosted rounds"):
                summary["num_boosted_rounds"] = int(model.num_boosted_rounds())
            recorded = model.attr("best_iteration") if hasattr(model, "attr") else None
            if recorded is not None:  # early stopping recorded it
                summary["best_iteration"] = int(recorded)
                summary["best_score"] = float(model.attr("best_score"))
            elif self.history:
                data = list(self.history)[-1]
                metric = list(self.history[data])[-1]
                series = self.history[data][metric]
                pick = max if maximised(metric) else min
                # the first of equal scores, as early stopping would keep it
                epoch, score = pick(series, key=lambda point: point[1])
                summary["best_iteration"] = epoch
                summary["best_score"] = score
            if self.history:
                data = list(self.history)[-1]
                summary["best_metric"] = f"{data}/{list(self.history[data])[-1]}"
            return summary

        def _log_model(self, model: Any) -> None:
            run = self.tracking.run
            if run is None or not hasattr(model, "save_model"):
                return
            name = artifact_name(self.model_name or f"{run.name}-xgboost", "xgboost-model")
            metadata = {"framework": "xgboost", "xgboost_version": xgb.__version__}
            log_saved_model(run, "model.json", model.save_model, name=name, metadata=metadata)

    AssayCallback.__module__ = __name__
    return AssayCallback


def __getattr__(name: str) -> Any:
    if name == "AssayCallback":
        return _define()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
