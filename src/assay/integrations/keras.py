"""Keras 3: ``AssayCallback``, a ``keras.callbacks.Callback``.

    from assay.integrations.keras import AssayCallback
    model.fit(x, y, epochs=10, validation_split=0.2,
              callbacks=[AssayCallback(project="digits", save_model="best")])

Logs as config what Keras knows cheaply when training starts (``epochs``,
``steps_per_epoch``, the optimizer's configuration with its learning rate, the loss, the
model's name and parameter count, and what you pass as ``config=``: Keras 3 does not tell
callbacks the batch size, so pass ``config={"batch_size": 32}`` to record it); every
epoch's logs at the epoch's number (``loss``, ``val_loss``, ``accuracy``... at step 0,
1, ...), and with ``log_every_n_batches=N`` the batch logs as ``batch/<name>`` whenever
the optimizer's iteration count (batches trained so far) is a multiple of N, at that
count. The summary gets ``epochs_trained``
and, when the monitored metric was logged, ``best_epoch`` and ``best_<monitor>``.
``save_model="end"`` logs the trained model (``model.keras``) as a ``model`` artifact when
training ends; ``save_model="best"`` logs the model of the epoch with the best
``monitor`` (``mode`` "min", "max", or "auto": max for accuracy-like names). Keras 3.0
and later is supported, on any backend.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.integrations._common import (
    Tracking,
    artifact_name,
    check_version,
    import_framework,
    number,
)

if TYPE_CHECKING:
    from keras.callbacks import Callback

MINIMUM = "3.0"
INTEGRATION = "keras"
SAVE_MODES = ("end", "best")
_MAXIMISED = ("acc", "auc", "precision", "recall", "f1", "iou")


def _framework() -> Any:
    keras = import_framework(
        "keras",
        "Keras",
        "keras",
        INTEGRATION,
        " (Keras imports its backend: set KERAS_BACKEND=torch or jax when TensorFlow is "
        "not installed)",
    )
    check_version("Keras", getattr(keras, "__version__", "unknown"), MINIMUM, None, INTEGRATION)
    return keras


def direction(monitor: str, mode: str) -> str:
    """Whether to minimise or maximise ``monitor``; "auto" maximises accuracy-like names."""
    if mode not in ("auto", "min", "max"):
        raise InvalidInput(f"mode {mode!r} is not one of auto, min, max")
    if mode != "auto":
        return mode
    return "max" if any(word in monitor.lower() for word in _MAXIMISED) else "min"


@cache
def _define() -> type[Callback]:
    keras = _framework()
    base: Any = keras.callbacks.Callback

    class AssayCallback(base):  # type: ignore[misc]
        """Track a Keras ``fit`` with Assay (see the module's docstring)."""

        def __init__(
            self,
            *,
            log_every_n_batches: int = 0,
            save_model: str | None = None,
            monitor: str = "val_loss",
            mode: str = "auto",
            model_name: str | None = None,
            config: Mapping[str, Any] | None = None,
            project: str | None = None,
            **init: Any,
        ) -> None:
            _framework()
            super().__init__()
            if save_model is not None and save_model not in SAVE_MODES:
                raise InvalidInput(f"save_model {save_model!r} is not one of None, end, best")
            if type(log_every_n_batches) is not int or log_every_n_batches < 0:
                raise InvalidInput(
                    f"log_every_n_batches must be a non-negative int, got {log_every_n_batches!r}"
                )
            self.log_every_n_batches = log_every_n_batches
            self.save_model = save_model
            self.monitor = monitor
            self.mode = direction(monitor, mode)
            self.model_name = model_name
            self.extra_config = dict(config or {})
            self.tracking = Tracking(INTEGRATION, {"project": project, **init})
            self.best: tuple[int, float] | None = None
            self.epochs_trained = 0
            self.last_epoch: int | None = None
            self._folder: Path | None = None

        # ---- training begins and ends --------------------------------------------------------

        def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
            self.best, self.epochs_trained, self.last_epoch = None, 0, None
            if self.tracking.start() is None:
                return
            config = self._config()
            self.tracking.update_config({**config, **self.extra_config})
            if self.save_model is not None:
                self._folder = Path(tempfile.mkdtemp(prefix="assay-keras-"))

        def _config(self) -> dict[str, Any]:
            """What Keras knows cheaply; each part on its own, so that one Keras cannot
            give (a subclassed model not built yet) leaves the others."""
            params = dict(self.params or {})
            config: dict[str, Any] = {}
            if params.get("epochs") is not None:
                config["epochs"] = params["epochs"]
            if params.get("steps") is not None:
                config["steps_per_epoch"] = params["steps"]
            model = self.model
            safely = self.tracking.safely
            with safely("reading the model"):
                config["model"] = {"name": model.name, "class": type(model).__name__}
                if model.built:
                    config["model"]["parameters"] = int(model.count_params())
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None:
                with safely("reading the optimizer's configuration"):
                    settings = dict(optimizer.get_config())
                    config["optimizer"] = {**settings, "class": type(optimizer).__name__}
                with safely("reading the learning rate"):
                    rate = number(keras.ops.convert_to_numpy(optimizer.learning_rate))
                    if rate is not None:
                        config["learning_rate"] = rate
            loss = getattr(model, "loss", None)
            if loss is not None:
                config["loss"] = loss if isinstance(loss, str) else type(loss).__name__
            return config

        def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
            if self.tracking.run is None:
                return
            summary: dict[str, Any] = {"epochs_trained": self.epochs_trained}
            if self.best is not None:
                summary["best_epoch"] = self.best[0]
                summary[f"best_{self.monitor}"] = self.best[1]
            self.tracking.update_summary(summary)
            if self.save_model is not None:
                with self.tracking.safely("logging the model"):
                    self._log_model()
                if self._folder is not None:
                    shutil.rmtree(self._folder, ignore_errors=True)
                    self._folder = None
            self.tracking.finish()

        # ---- epochs and batches ----------------------------------------------------------------

        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            if self.tracking.run is None:
                return
            self.epochs_trained += 1
            self.last_epoch = epoch
            logs = logs or {}
            self.tracking.log(logs, step=epoch)
            value = number(logs.get(self.monitor))
            if value is None:
                return
            better = (
                self.best is None
                or (self.mode == "min" and value < self.best[1])
                or (self.mode == "max" and value > self.best[1])
            )
            if better:
                self.best = (epoch, float(value))
                if self.save_model == "best":
                    with self.tracking.safely("saving the best model"):
                        self._save()

        def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
            every = self.log_every_n_batches
            if every <= 0 or self.tracking.run is None:
                return
            with self.tracking.safely("logging batch metrics"):
                # the optimizer's iteration count: batches trained so far, across epochs
                step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
                if step % every == 0:
                    row = {f"batch/{key}": value for key, value in (logs or {}).items()}
                    self.tracking.log(row, step=step)

        # ---- the model artifact ----------------------------------------------------------------

        def _save(self) -> Path | None:
            if self._folder is None:
                return None
            path = self._folder / "model.keras"
            self.model.save(path)
            return path

        def _log_model(self) -> None:
            run = self.tracking.run
            if run is None:
                return
            metadata: dict[str, Any] = {"framework": "keras", "keras_version": keras.__version__}
            saved = self._folder / "model.keras" if self._folder is not None else None
            if self.save_model == "best" and self.best is not None and saved is not None:
                metadata.update(epoch=self.best[0], monitor=self.monitor, score=self.best[1])
                aliases = ["best"]
            else:  # "end", or "best" when the monitored metric never appeared
                saved = self._save()
                metadata["epoch"] = self.last_epoch
                aliases = []
            if saved is None or not saved.exists():
                return
            name = artifact_name(self.model_name or f"{run.name}-{self.model.name}", "keras-model")
            run.log_artifact(saved, name=name, type="model", metadata=metadata, aliases=aliases)

    AssayCallback.__module__ = __name__
    return AssayCallback


def __getattr__(name: str) -> Any:
    if name == "AssayCallback":
        return _define()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
