"""Hugging Face Transformers: ``AssayCallback``, a ``transformers.TrainerCallback``.

    from assay.integrations.transformers import AssayCallback
    trainer = Trainer(model, args, train_dataset=train, eval_dataset=valid,
                      callbacks=[AssayCallback(project="sentiment", log_model=True)])
    trainer.train()

(Pass ``report_to="none"`` in ``TrainingArguments`` to keep Transformers' own
integrations from starting too.)

- config, when training begins: the ``TrainingArguments`` (``config.learning_rate``,
  ``config.per_device_train_batch_size``, ``config.train_batch_size``...) and the model's
  configuration under ``model_config``;
- metrics, at each ``on_log``: at ``state.global_step``, Trainer's names rewritten as
  ``train/loss``, ``train/learning_rate``, ``train/grad_norm``, ``train/epoch``,
  ``eval/loss``, ``eval/<metric>``, ``test/<metric>``;
- summary, when training ends: the final training log (``train_runtime``,
  ``train_loss``, ``train_samples_per_second``...), ``global_step``, ``epoch``, and
  ``best_metric``/``best_global_step``/``best_model_checkpoint`` when Trainer tracked them;
- with ``log_model=True``, the trained model (the best one with
  ``load_best_model_at_end``) through ``save_pretrained``, with its tokenizer or processor,
  as a ``model`` artifact.

A run this callback started is finished when training ends; what Trainer logs
afterwards (``trainer.evaluate()``) goes to that run, resumed for it and finished again.
Only the process of global rank zero logs. Transformers 4.36 and later is supported.
"""

from __future__ import annotations

import tempfile
from functools import cache
from typing import TYPE_CHECKING, Any

from assay.integrations._common import (
    Tracking,
    artifact_name,
    check_version,
    import_framework,
    numbers,
)

if TYPE_CHECKING:
    from transformers import TrainerCallback

MINIMUM = "4.36"
INTEGRATION = "transformers"
FINAL_LOG = "train_runtime"  # the key of Trainer's last log, its summary of training
_PREFIXES = (("eval_", "eval/"), ("test_", "test/"))


def _framework() -> Any:
    transformers = import_framework("transformers", "Transformers", "transformers", INTEGRATION)
    version = getattr(transformers, "__version__", "unknown")
    check_version("Transformers", version, MINIMUM, None, INTEGRATION)
    return transformers


def metric_key(key: str) -> str:
    """Trainer's log key as an Assay metric key: ``eval_loss`` → ``eval/loss``,
    ``loss`` → ``train/loss``."""
    for prefix, namespace in _PREFIXES:
        if key.startswith(prefix):
            return namespace + key[len(prefix) :]
    return "train/" + key


@cache
def _define() -> type[TrainerCallback]:
    transformers = _framework()
    base: Any = transformers.TrainerCallback

    class AssayCallback(base):  # type: ignore[misc]
        """Track a Hugging Face ``Trainer`` with Assay (see the module's docstring)."""

        def __init__(
            self,
            *,
            log_model: bool = False,
            model_name: str | None = None,
            project: str | None = None,
            **init: Any,
        ) -> None:
            _framework()
            super().__init__()
            self.log_model = log_model
            self.model_name = model_name
            self.tracking = Tracking(INTEGRATION, {"project": project, **init})
            self.final: dict[str, Any] = {}
            self._run_id: str | None = None
            self._run_name: str | None = None

        def _resume(self) -> bool:
            """Continue the run this callback started, for what Trainer logs after
            training ended (``trainer.evaluate()``); whether it could."""
            if self._run_id is None:
                return False
            self.tracking.start(id=self._run_id, resume=True, name=self._run_name)
            return self.tracking.active

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            self.final = {}
            run = self.tracking.start()
            if run is None:
                return
            if self.tracking.owned:
                self._run_id, self._run_name = run.id, run.name
            config: dict[str, Any] = {}
            with self.tracking.safely("reading the training arguments"):
                config.update(args.to_dict())
                config["train_batch_size"] = args.train_batch_size
                config["eval_batch_size"] = args.eval_batch_size
            model = kwargs.get("model")
            model_config = getattr(model, "config", None)
            if model_config is not None and hasattr(model_config, "to_dict"):
                with self.tracking.safely("reading the model's configuration"):
                    config["model_config"] = model_config.to_dict()
            self.tracking.update_config(config)

        def on_log(
            self,
            args: Any,
            state: Any,
            control: Any,
            logs: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            if not state.is_world_process_zero or not logs:
                return
            resumed = False
            if not self.tracking.active:
                if not self._resume():
                    return
                resumed = True
            if FINAL_LOG in logs:  # the averages of the whole training: for the summary
                self.final = numbers(logs)
            else:
                row = {metric_key(key): value for key, value in logs.items()}
                self.tracking.log(row, step=int(state.global_step))
            if resumed:
                self.tracking.finish()

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero or not self.tracking.active:
                return
            summary: dict[str, Any] = {**self.final, "global_step": int(state.global_step)}
            if state.epoch is not None:
                summary["epoch"] = float(state.epoch)
            for field in ("best_metric", "best_global_step", "best_model_checkpoint"):
                value = getattr(state, field, None)
                if value is not None:
                    summary[field] = value
            self.tracking.update_summary(summary)
            if self.log_model:
                with self.tracking.safely("logging the model"):
                    self._log_model(kwargs.get("model"), kwargs)
            self.tracking.finish()

        def _log_model(self, model: Any, kwargs: dict[str, Any]) -> None:
            run = self.tracking.run
            if run is None or model is None or not hasattr(model, "save_pretrained"):
                return
            processor = kwargs.get("processing_class") or kwargs.get("tokenizer")
            with tempfile.TemporaryDirectory(prefix="assay-transformers-") as folder:
                model.save_pretrained(folder)
                if processor is not None and hasattr(processor, "save_pretrained"):
                    processor.save_pretrained(folder)
                name = artifact_name(
                    self.model_name or f"{run.name}-{type(model).__name__}", "transformers-model"
                )
                metadata = {
                    "framework": "transformers",
                    "transformers_version": transformers.__version__,
                    "class": type(model).__name__,
                }
                run.log_artifact(folder, name=name, type="model", metadata=metadata)

    AssayCallback.__module__ = __name__
    return AssayCallback


def __getattr__(name: str) -> Any:
    if name == "AssayCallback":
        return _define()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
