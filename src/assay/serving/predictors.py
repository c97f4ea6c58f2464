"""A loaded model as the one call the batcher makes: named input arrays in, named output
arrays out, one row of each output per input row.

The model is loaded and called by its flavour in ``assay.models``: the flavour's
``predictor`` is the very call evaluations make, so what was evaluated is what is served.
It takes rows (one dict of columns each) and gives one output per row; classifiers'
``{"prediction", "probabilities"}`` become the outputs ``predict`` and ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assay.flavours import saved
from assay.serving.tensors import Rows

Outputs = dict[str, np.ndarray]
BatchPredict = Callable[[Rows, Sequence[str]], Outputs]
RowCall = Callable[[list[dict[str, Any]]], list[Any]]


@dataclass(frozen=True)
class Predictor:
    predict: BatchPredict
    outputs: tuple[str, ...]  # what a request may ask for; the first is the default


def load_folder(folder: Path, allow_pickle: bool) -> tuple[Any, dict[str, Any]]:
    """The model object and its descriptor (``assay-model.json``), by its flavour."""
    descriptor = saved.read_descriptor(folder)
    return saved.load(folder, allow_pickle=allow_pickle), descriptor


def predictor(model: Any, descriptor: dict[str, Any]) -> Predictor:
    """The flavour's own predictor (the call evaluations make) as a batch of arrays."""
    made = saved.flavour(descriptor["flavour"]).predictor(model, descriptor)
    proba = hasattr(model, "predict_proba")
    return Predictor(rows_predict(made), ("predict", "predict_proba") if proba else ("predict",))


def columnar(model: Any, names: Sequence[str], columns: bool) -> Predictor:
    """The scikit-learn flavour's call without rows: the same float feature array (as a
    DataFrame with the model's ``feature_names_in_`` when it has them) built from the
    columns at once, ``predict_proba`` only when asked for. Used only once
    :func:`same_outputs` has shown it gives what the flavour's predictor gives."""
    import pandas as pd

    fitted = getattr(model, "feature_names_in_", None)
    labels = None if fitted is None else [str(n) for n in fitted]
    order = labels if labels is not None and columns else list(names)
    proba = hasattr(model, "predict_proba")
    # the frame's column labels made once: from a list, pandas builds (and infers the
    # dtype of) a new Index on every call, half the frame's cost per call
    index = None if labels is None else pd.Index(labels)

    def predict(rows: Rows, wanted: Sequence[str]) -> Outputs:
        if columns:
            x = np.column_stack([np.asarray(rows[n], dtype=float) for n in order])
        else:
            x = np.asarray(next(iter(rows.values())), dtype=float)
        frame = x if index is None else pd.DataFrame(x, columns=index, copy=False)
        out = {"predict": np.asarray(model.predict(frame))}
        if proba and "predict_proba" in wanted:
            out["predict_proba"] = np.asarray(model.predict_proba(frame))
        return out

    return Predictor(predict, ("predict", "predict_proba") if proba else ("predict",))


def same_outputs(a: Outputs, b: Outputs) -> bool:
    """Whether two predictors gave the same outputs (floats to 1e-9)."""
    if set(a) != set(b):
        return False
    for name, left in a.items():
        right = b[name]
        if left.shape != right.shape:
            return False
        if left.dtype.kind in "fc" or right.dtype.kind in "fc":
            if not np.allclose(left.astype(float), right.astype(float), rtol=1e-9, atol=1e-12):
                return False
        elif left.tolist() != right.tolist():
            return False
    return True


def records(rows: Rows) -> list[dict[str, Any]]:
    """Columns as one dict per row (what row-taking models and flavours are given)."""
    names = list(rows)
    columns = [rows[n].tolist() for n in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def rows_predict(call: RowCall) -> BatchPredict:
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
