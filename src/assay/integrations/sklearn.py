"""scikit-learn: ``autolog()`` tracks every ``fit`` while it is enabled.

    from assay.integrations.sklearn import autolog
    autolog(project="digits")          # patches fit of scikit-learn's estimators
    LogisticRegression(C=0.5).fit(X, y)    # a run: params, train/accuracy, the model
    autolog(disable=True)              # the original fit methods are back

Each outermost ``fit`` (a Pipeline's or a search's fits of their parts belong to it) logs
to the active run, or starts a run that ends with the fit (failed if the fit raised):

- config: ``estimator`` (the class's name) and ``get_params()``, nested estimators as
  text (``config.C``, ``config.logisticregression__C`` for a Pipeline);
- metrics: ``score`` on the training data (``train/accuracy`` for a classifier,
  ``train/r2`` for a regressor, else ``train/score``) when the data has at most
  ``max_score_rows`` rows, skipped with ``score_training_data=False``;
- the fitted estimator through ``run.log_model`` (the ``sklearn`` flavour, so
  ``assay.models.load`` brings it back; needs skops), skipped with ``log_models=False``.

Patched are the classes ``sklearn.utils.all_estimators()`` lists (and the base classes
their ``fit`` comes from); a class of your own that defines its own ``fit`` is not.
Tracking failures are logged, never raised into ``fit``. scikit-learn 1.3 and later is
supported.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.integrations._common import (
    Tracking,
    artifact_name,
    check_init_kwargs,
    check_version,
    config_tree,
    import_framework,
    log,
)

MINIMUM = "1.3"
INTEGRATION = "sklearn"
ORIGINAL = "__assay_original__"


@dataclass
class _Settings:
    log_models: bool = True
    score_training_data: bool = True
    max_score_rows: int = 100_000
    model_name: str | None = None
    init: dict[str, Any] = field(default_factory=dict)


_lock = threading.RLock()
_patched: dict[Any, Callable[..., Any]] = {}  # class -> its original fit
_settings: _Settings | None = None
_depth = 0  # fits in progress, in any thread: only the outermost one is tracked


def _framework() -> Any:
    sklearn = import_framework("sklearn", "scikit-learn", "scikit-learn", INTEGRATION)
    version = getattr(sklearn, "__version__", "unknown")
    check_version("scikit-learn", version, MINIMUM, None, INTEGRATION)
    return sklearn


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    score_training_data: bool = True,
    max_score_rows: int = 100_000,
    model_name: str | None = None,
    project: str | None = None,
    **init: Any,
) -> None:
    """Track every scikit-learn ``fit`` from now on (see the module docstring), or stop
    with ``disable=True``. Calling it again changes the options.

    ``project`` and ``init`` are ``assay.init`` arguments, used when no run is active.
    ``model_name``: the artifact name of logged models (default: run name and class)."""
    global _settings
    with _lock:
        if disable:
            _settings = None
            for cls, original in _patched.items():
                cls.fit = original
            _patched.clear()
            return
        _framework()
        settings = _Settings(
            log_models=log_models,
            score_training_data=score_training_data,
            max_score_rows=max_score_rows,
            model_name=model_name,
            init=check_init_kwargs({"project": project, **init}, INTEGRATION),
        )
        from sklearn.utils import all_estimators

        for _, estimator in all_estimators():
            owner = next((c for c in estimator.__mro__ if "fit" in c.__dict__), None)
            if owner is None or owner in _patched:
                continue
            original = owner.__dict__["fit"]
            if not callable(original) or hasattr(original, ORIGINAL):
                continue
            _patched[owner] = original
            owner.fit = _tracked(original)
        _settings = settings


def enabled() -> bool:
    """Whether ``autolog()`` is on."""
    return _settings is not None


def _tracked(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _depth
        settings = _settings
        with _lock:
            outermost = _depth == 0
            _depth += 1
        try:
            if not outermost or settings is None:
                return original(self, *args, **kwargs)
            return _fit_tracked(settings, original, self, args, kwargs)
        finally:
            with _lock:
                _depth -= 1

    setattr(fit, ORIGINAL, original)
    return fit


def _fit_tracked(
    settings: _Settings,
    original: Callable[..., Any],
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    tracking = Tracking(INTEGRATION, settings.init)
    run = tracking.start()
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as exc:
        tracking.finish("killed" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    if run is not None:
        with tracking.safely("recording the fitted estimator"):
            _record(tracking, settings, estimator, args, kwargs)
    tracking.finish()
    return result


def _record(
    tracking: Tracking,
    settings: _Settings,
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    run = tracking.run
    assert run is not None
    cls = type(estimator).__name__
    params: dict[str, Any] = {}
    with tracking.safely("reading get_params()"):
        params = dict(estimator.get_params(deep=True))
    tracking.update_config({"estimator": cls, **config_tree(params)})
    if settings.score_training_data:
        with tracking.safely("scoring the training data"):
            tracking.log(_training_score(settings, estimator, args, kwargs), step=None)
    if settings.log_models:
        with tracking.safely("logging the model"):
            name = artifact_name(settings.model_name or f"{run.name}-{cls}", "sklearn-model")
            run.log_model(estimator, name, flavour="sklearn")


def _training_score(
    settings: _Settings, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, float]:
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    if x is None or y is None or not callable(getattr(estimator, "score", None)):
        return {}
    rows = _rows(x)
    if rows is None or rows > settings.max_score_rows:
        return {}
    weight = kwargs.get("sample_weight")
    score = estimator.score(x, y) if weight is None else estimator.score(x, y, sample_weight=weight)
    kind = getattr(estimator, "_estimator_type", None)
    try:
        from sklearn.base import is_classifier, is_regressor

        kind = "classifier" if is_classifier(estimator) else kind
        kind = "regressor" if is_regressor(estimator) else kind
    except Exception:
        log.debug("assay: could not tell the estimator's kind", exc_info=True)
    key = {"classifier": "train/accuracy", "regressor": "train/r2"}.get(str(kind), "train/score")
    return {key: float(score)}


def _rows(data: Any) -> int | None:
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(data)
    except TypeError:
        return None
