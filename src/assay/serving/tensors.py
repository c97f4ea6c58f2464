"""Request inputs checked against a signature: named arrays sharing their first dimension.

Every protocol decodes its body into ``{name: ndarray}`` and calls :func:`conform`; what
comes out is what the batcher concatenates and the model predicts. Errors are
``InvalidInput`` naming the input and what was expected, which the routes answer with 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.serving.signature import DTYPES, Signature, TensorSpec, datatype_of

Rows = dict[str, np.ndarray]


def decode_tensor(name: str, datatype: str, shape: Any, data: Any) -> np.ndarray:
    """One Open Inference Protocol tensor (row-major ``data``, flat or nested)."""
    kind = DTYPES.get(str(datatype).upper())
    if kind is None:
        raise InvalidInput(
            f"input {name!r}: unknown datatype {datatype!r} (one of {', '.join(DTYPES)})"
        )
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidInput(f"input {name!r}: shape must be a list of sizes, got {shape!r}")
    try:
        array = np.asarray(data, dtype=kind)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"input {name!r}: data is not {datatype}: {exc}") from None
    expected = int(np.prod(shape)) if shape else 1
    if array.size != expected:
        raise InvalidInput(
            f"input {name!r}: shape {shape} needs {expected} values, data has {array.size}"
        )
    return array.reshape(shape)


def column(name: str, values: Any) -> np.ndarray:
    """A column from JSON values: numbers as float64/int64/bool, anything else as objects."""
    try:
        array = np.asarray(values)
    except ValueError as exc:
        raise InvalidInput(f"input {name!r}: {exc}") from None
    if array.dtype.kind in "USO":
        array = np.asarray(values, dtype=object)
    return array


def conform(signature: Signature, given: Mapping[str, np.ndarray]) -> Rows:
    """The inputs in the signature's names, dtypes and shapes; InvalidInput otherwise."""
    if signature.columns and len(given) == 1 and len(signature.inputs) > 1:
        ((name, array),) = given.items()
        whole = array.ndim == 2 and array.shape[1] == len(signature.inputs)
        if name not in signature.names or whole:  # the table as one [n, k] tensor
            given = _split_columns(signature, name, array)
    names = signature.names
    unknown = [n for n in given if n not in names]
    if unknown:
        raise InvalidInput(f"unknown input {unknown[0]!r}: this model takes {_listed(names)}")
    missing = [s for s in signature.inputs if s.name not in given]
    if missing:
        spec = missing[0]
        raise InvalidInput(f"missing input {spec.name!r} ({spec.describe()})")
    rows = {s.name: _conform_one(s, given[s.name]) for s in signature.inputs}
    _same_rows(rows)
    if rows and row_count(rows) == 0:
        raise InvalidInput("the inputs have no rows: send at least one")
    return rows


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _split_columns(signature: Signature, name: str, array: np.ndarray) -> dict[str, np.ndarray]:
    """A ``[n, k]`` tensor given to a model of ``k`` named columns: its columns in order."""
    k = len(signature.inputs)
    if array.ndim != 2 or array.shape[1] != k:
        raise InvalidInput(
            f"input {name!r}: this model takes {k} named columns ({_listed(signature.names)}); "
            f"send them by name, or one tensor of shape [-1, {k}], got {list(array.shape)}"
        )
    return {s.name: array[:, i] for i, s in enumerate(signature.inputs)}


def _conform_one(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    if array.ndim == 1 and len(spec.shape) == 1 and array.dtype == _NUMPY[spec.datatype]:
        return array  # a column as it should be: the common case, checked first
    if array.ndim == 0:
        raise InvalidInput(f"input {spec.name!r}: expected {spec.describe()}, got a scalar")
    if len(spec.shape) == 1 and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # a column sent as [n, 1]
    if array.ndim != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape[1:], array.shape[1:], strict=True)
    ):
        raise InvalidInput(
            f"input {spec.name!r}: expected shape {list(spec.shape)}, got {list(array.shape)}"
        )
    return _cast(spec, array)


_NUMPY = {name: np.dtype(kind) for name, kind in DTYPES.items()}


def _cast(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    want = _NUMPY[spec.datatype]
    if array.dtype == want:
        return array
    got = datatype_of(array)
    if spec.loose:
        return array if got == "BYTES" or array.dtype.kind == "b" else array.astype(want)
    if spec.datatype == "BYTES":
        return array.astype(object)
    if got == "BYTES" or (want.kind in "iub" and array.dtype.kind == "f" and not _whole(array)):
        raise InvalidInput(f"input {spec.name!r}: expected {spec.datatype}, got {got}")
    return array.astype(want)


def _whole(array: np.ndarray) -> bool:
    """Floats that are all whole numbers (JSON's 31.0 for an integer column)."""
    return bool(np.isfinite(array).all() and (np.mod(array, 1) == 0).all())


def _same_rows(rows: Rows) -> None:
    counts = {name: a.shape[0] for name, a in rows.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{n}: {c}" for n, c in list(counts.items())[:6])
        raise InvalidInput(f"inputs must have the same number of rows, got {shown}")


def row_count(rows: Rows) -> int:
    return int(next(iter(rows.values())).shape[0]) if rows else 0


def concat(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def take(outputs: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {name: array[start:stop] for name, array in outputs.items()}
