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

from assay.models import saved
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
