"""A served model's inputs and outputs as named tensors (the Open Inference Protocol's view).

Where a signature comes from, first match wins:

1. the model artifact's metadata ``signature``:
   ``{"inputs": [{"name": "age", "datatype": "FP64", "shape": [-1]}, ...], "outputs": [...]}``;
2. the model itself: scikit-learn's ``feature_names_in_`` (one column tensor per feature,
   shape ``[-1]``) or ``n_features_in_`` (one ``input-0`` tensor ``[-1, k]``); an ONNX
   session's declared inputs;
3. the metadata ``input_example`` (columns ``{"age": [31, 45]}``, records or rows).

The first dimension of every input is the batch (``-1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.errors import InvalidInput

# Open Inference Protocol datatype -> numpy dtype
DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
_ONNX_TYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype of a numpy array (strings and objects are BYTES)."""
    kind = array.dtype
    for name, dtype in DTYPES.items():
        if name != "BYTES" and kind == np.dtype(dtype):
            return name
    return "BYTES"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1 for a dimension of any size; the first is the batch
    loose: bool = False  # datatype guessed (no signature or example): other kinds are let in

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def describe(self) -> str:
        return f"{self.datatype}, shape {list(self.shape)}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()
    columns: bool = False  # one tensor per column of a table (a DataFrame for the model)
    example: dict[str, np.ndarray] | None = field(default=None, compare=False)

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
        }


def _spec(raw: Any, where: str) -> TensorSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise InvalidInput(f"signature {where}: each tensor needs a name, datatype and shape")
    datatype = str(raw.get("datatype", "FP64")).upper()
    if datatype not in DTYPES:
        raise InvalidInput(f"signature {where} {raw['name']!r}: unknown datatype {datatype!r}")
    shape = tuple(int(d) for d in raw.get("shape", [-1]))
    return TensorSpec(raw["name"], datatype, shape or (-1,))


def from_metadata(raw: Any) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("inputs"), list):
        raise InvalidInput("the model's metadata 'signature' must be {'inputs': [...]}")
    inputs = tuple(_spec(s, "input") for s in raw["inputs"])
    outputs = tuple(_spec(s, "output") for s in raw.get("outputs") or [])
    return inputs, outputs


def example_columns(raw: Any, names: Sequence[str] | None) -> dict[str, np.ndarray] | None:
    """An ``input_example`` as named columns: ``{"a": [..]}``, ``[{"a": 1}, ..]`` or rows."""
    if isinstance(raw, dict) and raw:
        return {str(k): _column(v) for k, v in raw.items()}
    if isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw):
        keys = list(raw[0])
        return {str(k): _column([r.get(k) for r in raw]) for k in keys}
    if isinstance(raw, list) and raw:
        rows = np.asarray(raw)
        if rows.ndim == 2 and names and len(names) == rows.shape[1]:
            return {n: _column(rows[:, i].tolist()) for i, n in enumerate(names)}
        return {"input-0": rows}
    return None


def _column(values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "USO":
        return np.asarray(values, dtype=object)
    return array


def infer(model: Any, flavour: str, metadata: dict[str, Any]) -> Signature:
    """The signature of a loaded model (see the module's docstring for the order)."""
    names = _feature_names(model)
    example = None
    if "signature" in metadata:
        inputs, outputs = from_metadata(metadata["signature"])
        columns = len(inputs) > 1 or (names is not None and len(names) == len(inputs))
        example = example_columns(metadata.get("input_example"), [s.name for s in inputs])
        return Signature(inputs, outputs, columns, example)
    example = example_columns(metadata.get("input_example"), names)
    if flavour == "onnx":
        return Signature(_onnx_inputs(model), _onnx_outputs(model), False, example)
    if names is not None:
        specs = tuple(_column_spec(n, example) for n in names)
        return Signature(specs, (), True, example)
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, int):
        return Signature((TensorSpec("input-0", "FP64", (-1, count)),), (), False, example)
    if example is not None:
        columns = len(example) > 1 or "input-0" not in example
        specs = tuple(
            TensorSpec(k, datatype_of(v), (-1, *v.shape[1:]), True) for k, v in example.items()
        )
        return Signature(specs, (), columns, example)
    return Signature((TensorSpec("input-0", "FP64", (-1, -1), True),), (), False, None)


def _feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _column_spec(name: str, example: dict[str, np.ndarray] | None) -> TensorSpec:
    if example is not None and name in example:
        return TensorSpec(name, datatype_of(example[name]), (-1,))
    return TensorSpec(name, "FP64", (-1,), loose=True)


def _onnx_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in shape) or (-1,)


def _onnx_inputs(session: Any) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(i.name, _ONNX_TYPES.get(i.type, "FP32"), _onnx_shape(i.shape))
        for i in session.get_inputs()
    )


def _onnx_outputs(session: Any) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(o.name, _ONNX_TYPES.get(o.type, "FP32"), _onnx_shape(o.shape or []))
        for o in session.get_outputs()
    )
