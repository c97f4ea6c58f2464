"""A loaded model as the one call the batcher makes: named input arrays in, named output
arrays out, one row of each output per input row.

The model is loaded and called by its flavour: through ``assay.models`` (the flavour's
``predictor``, the very call evaluations make, so what was evaluated is what is served)
where that package is installed, else through the flavour loaders of ``assay.registry``
with the same calling rules (a feature frame for scikit-learn, the graph's inputs for
ONNX, the list of rows for generic Python models).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.serving.signature import DTYPES, Signature
from assay.serving.tensors import Rows

Outputs = dict[str, np.ndarray]
BatchPredict = Callable[[Rows, Sequence[str]], Outputs]
RowCall = Callable[[list[dict[str, Any]]], list[Any]]


@dataclass(frozen=True)
class Predictor:
    predict: BatchPredict
    outputs: tuple[str, ...]  # what a request may ask for; the first is the default


def _saved() -> Any:
    """``assay.models.saved`` when the flavour package is there, else ``assay.registry``."""
    try:
        return importlib.import_module("assay.models.saved")
    except ImportError:
        return importlib.import_module("assay.registry.flavours")


def load_folder(folder: Path, allow_pickle: bool) -> tuple[Any, dict[str, Any]]:
    """The model object and its descriptor (``assay-model.json``)."""
    saved = _saved()
    descriptor: dict[str, Any] = saved.read_descriptor(folder)
    return saved.load(folder, allow_pickle=allow_pickle), descriptor


def predictor(model: Any, descriptor: dict[str, Any], signature: Signature) -> Predictor:
    flavours = _saved()
    if hasattr(flavours, "flavour"):  # the flavour package: its own predictor
        made = flavours.flavour(descriptor["flavour"]).predictor(model, descriptor)
        return Predictor(rows_predict(made), ("predict", "predict_proba"))
    return _builtin(model, descriptor["flavour"], signature)


def _builtin(model: Any, kind: str, signature: Signature) -> Predictor:
    if kind == "onnx":
        return _onnx(model, signature)
    if kind == "python" and hasattr(model, "predict"):
        return Predictor(rows_predict(lambda rows: list(model.predict(rows))), ("predict",))
    if hasattr(model, "predict"):
        return _estimator(model, signature)
    if kind == "torch":
        return _torch(model)
    raise InvalidInput(f"a {kind} model without predict() cannot be served")


def records(rows: Rows) -> list[dict[str, Any]]:
    """Columns as one dict per row (what row-taking models and flavours are given)."""
    names = list(rows)
    columns = [rows[n].tolist() for n in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def rows_predict(call: Any) -> BatchPredict:
    """A flavour call taking rows (a list of dicts) and giving one output per row."""

    def predict(rows: Rows, wanted: Sequence[str]) -> Outputs:
        return split(list(call(records(rows))))

    return predict


def split(outputs: list[Any]) -> Outputs:
    """Per-row outputs as arrays: classifiers' ``{"prediction", "probabilities"}`` dicts
    become ``predict`` and ``predict_proba``."""
    if outputs and isinstance(outputs[0], dict) and "prediction" in outputs[0]:
        return {
            "predict": np.asarray([o["prediction"] for o in outputs]),
            "predict_proba": np.asarray([o.get("probabilities") for o in outputs]),
        }
    return {"predict": np.asarray(outputs)}


def _estimator(model: Any, signature: Signature) -> Predictor:
    has_proba = hasattr(model, "predict_proba")

    def predict(rows: Rows, wanted: Sequence[str]) -> Outputs:
        x = _frame(rows) if signature.columns else next(iter(rows.values()))
        out = {"predict": np.asarray(model.predict(x))}
        if has_proba and "predict_proba" in wanted:
            out["predict_proba"] = np.asarray(model.predict_proba(x))
        return out

    return Predictor(predict, ("predict", "predict_proba") if has_proba else ("predict",))


def _frame(rows: Rows) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, copy=False)


def _onnx(session: Any, signature: Signature) -> Predictor:
    names = tuple(o.name for o in session.get_outputs())
    kinds = {s.name: DTYPES[s.datatype] for s in signature.inputs}

    def predict(rows: Rows, wanted: Sequence[str]) -> Outputs:
        feed = {name: np.asarray(a, dtype=kinds.get(name)) for name, a in rows.items()}
        chosen = [w for w in wanted if w in names] or [names[0]]
        found = session.run(chosen, feed)
        return {name: np.asarray(v) for name, v in zip(chosen, found, strict=True)}

    return Predictor(predict, names)


def _torch(module: Any) -> Predictor:
    import torch

    def predict(rows: Rows, wanted: Sequence[str]) -> Outputs:
        x = torch.as_tensor(np.asarray(next(iter(rows.values())), dtype=np.float32))
        with torch.no_grad():
            return {"predict": np.asarray(module(x).numpy())}

    return Predictor(predict, ("predict",))
