"""Lightning: ``AssayLogger``, a ``lightning.pytorch.loggers.Logger``.

    from assay.integrations.lightning import AssayLogger
    trainer = L.Trainer(max_epochs=10, logger=AssayLogger(project="digits", log_model=True))
    trainer.fit(model, train_loader, val_loader)

Logs the hyperparameters Lightning hands to loggers (``save_hyperparameters()`` of the
module and data module) as config, everything ``self.log(...)`` sends to loggers at
Lightning's step (``trainer.global_step``; Lightning adds ``epoch``), and, with
``log_model=True``, the best checkpoint of the ``ModelCheckpoint`` callback (its last one
when nothing is monitored) as a ``model`` artifact when training ends, with
``log_model="all"`` every checkpoint as it is saved. ``experiment`` is the Assay run;
``name`` is its project and ``version`` its id. ``finalize`` finishes a run the logger
started (failed when training failed); a later ``trainer.test(...)`` with the same logger
resumes that run. ``log_graph`` does nothing. Only the process of global rank zero logs.
Lightning 2.0 and later is supported.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.integrations._common import (
    Tracking,
    artifact_name,
    check_version,
    config_tree,
    import_framework,
    number,
)

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

    from assay import Run

MINIMUM = "2.0"
INTEGRATION = "lightning"


def _framework() -> Any:
    lightning = import_framework("lightning", "Lightning", "lightning", INTEGRATION)
    version = getattr(lightning, "__version__", "unknown")
    check_version("Lightning", version, MINIMUM, None, INTEGRATION)
    return lightning


@cache
def _define() -> type[Logger]:
    lightning = _framework()
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities import rank_zero_only

    base: Any = Logger

    class AssayLogger(base):  # type: ignore[misc]
        """Lightning's logger for Assay (see the module's docstring)."""

        def __init__(
            self,
            *,
            log_model: bool | str = False,
            model_name: str | None = None,
            project: str | None = None,
            **init: Any,
        ) -> None:
            _framework()
            super().__init__()
            if log_model not in (False, True, "all"):
                raise InvalidInput(f"log_model {log_model!r} is not one of False, True, 'all'")
            self.log_model = log_model
            self.model_name = model_name
            self.tracking = Tracking(INTEGRATION, {"project": project, **init})
            self._project = project
            self._run_id: str | None = None
            self._run_name: str | None = None
            self._gave_up = False
            self._checkpoints: Any = None
            self._logged: set[str] = set()

        # ---- what Lightning asks of a logger -----------------------------------------------

        @property
        def name(self) -> str:
            run = self.tracking.run
            return run.project if run is not None else (self._project or "default")

        @property
        def version(self) -> str | None:
            if self._run_id is not None:  # never resumes a finished run just to name it
                return self._run_id
            run = self.experiment
            return run.id if run is not None else None

        @property
        def save_dir(self) -> str | None:
            return None

        @property
        @rank_zero_experiment
        def experiment(self) -> Run | None:
            """The Assay run: the active one, else one this logger starts (and resumes
            when Lightning logs again after ``finalize``)."""
            if not self.tracking.active and not self._gave_up:
                resume: dict[str, Any] = {}
                if self._run_id is not None:
                    resume = {"id": self._run_id, "resume": True, "name": self._run_name}
                run = self.tracking.start(**resume)
                if run is None:  # said once; not tried again at every log call
                    self._gave_up = True
                elif self.tracking.owned:
                    self._run_id, self._run_name = run.id, run.name
            return self.tracking.run if self.tracking.active else None

        @rank_zero_only
        def log_hyperparams(
            self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any
        ) -> None:
            if self.experiment is None:
                return
            values = vars(params) if isinstance(params, Namespace) else dict(params or {})
            self.tracking.update_config(config_tree(values))

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            if self.experiment is None:
                return
            self.tracking.log(metrics, step=step)

        def log_graph(self, model: Any, input_array: Any = None) -> None:
            """Assay does not record model graphs."""

        def save(self) -> None:
            """Nothing to do: the run's writer delivers in the background."""

        @rank_zero_only
        def finalize(self, status: str) -> None:
            if not self.tracking.active:
                return
            if status != "failed" and self.log_model is True and self._checkpoints is not None:
                with self.tracking.safely("logging the best checkpoint"):
                    self._log_best(self._checkpoints)
            self.tracking.finish("failed" if status == "failed" else "finished")

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            if self.log_model == "all" and self.tracking.run is not None:
                with self.tracking.safely("logging a checkpoint"):
                    saved = getattr(checkpoint_callback, "_last_checkpoint_saved", "") or getattr(
                        checkpoint_callback, "last_model_path", ""
                    )
                    self._log_checkpoint(saved, checkpoint_callback, [])
            elif self.log_model is True:
                self._checkpoints = checkpoint_callback

        # ---- checkpoints as artifacts ------------------------------------------------------

        def _log_best(self, callback: Any) -> None:
            best = getattr(callback, "best_model_path", "")
            if best:
                self._log_checkpoint(best, callback, ["best"])
            else:
                self._log_checkpoint(getattr(callback, "last_model_path", ""), callback, [])

        def _log_checkpoint(self, path: str, callback: Any, aliases: list[str]) -> None:
            run = self.tracking.run
            if run is None or not path or not Path(path).is_file():
                return
            if path in self._logged:
                return
            self._logged.add(path)
            metadata: dict[str, Any] = {
                "framework": "lightning",
                "lightning_version": lightning.__version__,
                "file": Path(path).name,
            }
            monitor = getattr(callback, "monitor", None)
            if monitor:
                metadata["monitor"] = str(monitor)
                score = number(getattr(callback, "best_model_score", None))
                if score is not None and aliases:
                    metadata["score"] = score
            name = artifact_name(self.model_name or f"{run.name}-checkpoint", "checkpoint")
            run.log_artifact(path, name=name, type="model", metadata=metadata, aliases=aliases)

    AssayLogger.__module__ = __name__
    return AssayLogger


def __getattr__(name: str) -> Any:
    if name == "AssayLogger":
        return _define()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
