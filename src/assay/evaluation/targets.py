"""What is evaluated: a Python callable or a registered model, as one batch-calling interface.

A callable gets one item (a dict of its columns, the label left out), or a list of them when
it is marked with ``assay.batched``. A registered model gets its flavour's input: scikit-learn
estimators and ONNX sessions a 2-D array of the feature columns (the model's own
``feature_names_in_`` when it has them, given to scikit-learn as a DataFrame with those names;
slice columns only when the model's ``n_features_in_`` counts them; a single column holding a
vector is that vector),
generic Python models a list of item dicts through ``predict``. Classifiers that give
probabilities return ``{"prediction", "probabilities", "classes"}`` per item.
"""

from __future__ import annotations

import inspect
import marshal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import blake3

from assay.errors import InvalidInput
from assay.records import ArtifactVersion
from assay.store.base import Store

Items = list[dict[str, Any]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Target:
    name: str  # what reports show: models:/digits-classifier/3, or the function's name
    key: str  # what the output cache keys on: the model's content digest, the code's digest
    call: Callable[[Items], list[Any]]
    batch_size: int  # items per call
    version: ArtifactVersion | None = None  # the model artifact version, for registered models
    per_item: bool = False  # call takes one item; the runner may still hand a worker several


def batched(fn: F | None = None, *, size: int = 32) -> Any:
    """Mark a function that takes a list of items and returns one output per item:
    ``@assay.batched`` or ``@assay.batched(size=64)``."""

    def mark(inner: F) -> F:
        inner.__assay_batch_size__ = size  # type: ignore[attr-defined]
        return inner

    return mark(fn) if fn is not None else mark


def code_digest(fn: Callable[..., Any]) -> str:
    """A digest of a function: its source (else its bytecode), its defaults and the values it
    closes over (by value: msgpack, else pickle, else repr). What it reaches through globals
    is not part of it: pass ``cache=False`` when that changes outputs."""

    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        body = inspect.getsource(target).encode()
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        body = marshal.dumps(code) if code is not None else repr(target).encode()
    name = getattr(fn, "__qualname__", type(fn).__qualname__)
    cells = [c.cell_contents for c in getattr(fn, "__closure__", None) or () if _filled(c)]
    state = b"".join(_value_bytes(v) for v in [getattr(fn, "__defaults__", None), *cells])
    return blake3.blake3(name.encode() + b"\0" + body + b"\0" + state).hexdigest()


def _value_bytes(value: Any) -> bytes:
    import pickle

    import msgspec

    from assay.evaluation.data import encode

    try:
        return msgspec.msgpack.encode(value, order="deterministic")
    except (TypeError, OverflowError):
        pass
    try:
        return pickle.dumps(value, protocol=5)  # a fitted model's weights, not just its repr
    except Exception:
        return encode(value)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def from_callable(fn: Callable[..., Any]) -> Target:
    size = getattr(fn, "__assay_batch_size__", None)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    if size is not None:  # the runner checks one output per item
        return Target(name, code_digest(fn), fn, int(size))
    return Target(name, code_digest(fn), lambda items: [fn(items[0])], 1, per_item=True)


def _columns(items: Items, model: Any, skip: set[str], optional: set[str]) -> list[str]:
    """The feature columns: the model's ``feature_names_in_`` when it has them; else every
    column but ``skip`` (label, id, cluster), and without the ``optional`` (slice) columns
    when the model's ``n_features_in_`` says it takes that many fewer."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        columns = [str(n) for n in names]
        missing = [c for c in columns if c not in items[0]]
        if missing:
            raise InvalidInput(f"the model needs columns the data lacks: {', '.join(missing[:5])}")
        return columns
    columns = [c for c in items[0] if c not in skip]
    expected = getattr(model, "n_features_in_", None)
    fewer = [c for c in columns if c not in optional]
    if isinstance(expected, int) and expected != len(columns) and expected == len(fewer):
        return fewer
    return columns


def _features(items: Items, model: Any, skip: set[str], optional: set[str] | None = None) -> Any:
    import numpy as np

    columns = _columns(items, model, skip, optional or set())
    if len(columns) == 1 and isinstance(items[0][columns[0]], Sequence | np.ndarray):
        return np.asarray([item[columns[0]] for item in items], dtype=float)
    try:
        return np.asarray([[item[c] for c in columns] for item in items], dtype=float)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            f"the feature columns ({', '.join(columns[:5])}…) are not all numbers: {exc}"
        ) from None


def _named(x: Any, model: Any) -> Any:
    """The features as a DataFrame with the model's column names when it was fitted on one
    (scikit-learn warns when such a model is given a bare array), else as they are."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or x.ndim != 2 or x.shape[1] != len(names):
        return x
    try:
        import pandas as pd
    except ImportError:  # fitted on another kind of frame: the array still predicts
        return x
    return pd.DataFrame(x, columns=list(names))


def _sklearn_call(
    model: Any, skip: set[str], optional: set[str] | None = None
) -> Callable[[Items], list[Any]]:
    has_proba = hasattr(model, "predict_proba")
    classes = getattr(model, "classes_", None)

    def call(items: Items) -> list[Any]:
        x = _named(_features(items, model, skip, optional), model)
        predictions: list[Any] = model.predict(x).tolist()
        if not has_proba or classes is None:
            return predictions
        probs = model.predict_proba(x).tolist()
        names = classes.tolist()
        return [
            {"prediction": p, "probabilities": q, "classes": names}
            for p, q in zip(predictions, probs, strict=True)
        ]

    return call


def _onnx_call(session: Any, skip: set[str]) -> Callable[[Items], list[Any]]:
    import numpy as np

    name = session.get_inputs()[0].name

    def call(items: Items) -> list[Any]:
        x = np.asarray(_features(items, session, skip), dtype=np.float32)
        first = session.run(None, {name: x})[0]
        return list(np.asarray(first).tolist())

    return call


def _python_call(model: Any) -> Callable[[Items], list[Any]]:
    def call(items: Items) -> list[Any]:
        return list(model.predict(items))

    return call


def _torch_call(module: Any, skip: set[str]) -> Callable[[Items], list[Any]]:
    import torch

    def call(items: Items) -> list[Any]:
        x = torch.as_tensor(_features(items, module, skip), dtype=torch.float32)
        with torch.no_grad():
            return list(module(x).tolist())

    return call


def _label(store: Store, ref: str, version: ArtifactVersion) -> str:
    """``models:/name/3`` for a registered model (whatever alias named it), else the artifact."""
    from assay.artifacts.refs import ModelRef, parse_ref

    parsed = parse_ref(ref)
    if isinstance(parsed, ModelRef):
        return store.model_version(parsed.name, parsed.selector).uri
    return version.ref


def from_registry(
    store: Store,
    ref: str,
    project: str | None,
    skip: set[str],
    load_options: dict[str, Any],
    optional: set[str] | None = None,
) -> Target:
    """A registered model (``models:/name@alias``) or a model artifact, loaded by flavour;
    ``optional`` columns (slices) are features only when the model expects them."""
    from assay.artifacts.artifact import download, resolve
    from assay.registry import flavours

    version = resolve(store, ref, project)
    if version.type != "model":
        raise InvalidInput(f"{version.ref} is a {version.type!r} artifact, not a model")
    folder = download(store, version)
    kind = flavours.read_descriptor(folder)["flavour"]
    model = flavours.load(folder, **load_options)
    if kind == "onnx":
        call = _onnx_call(model, skip)
    elif kind == "python" and hasattr(model, "predict"):
        call = _python_call(model)
    elif hasattr(model, "predict"):
        call = _sklearn_call(model, skip, optional)
    elif kind == "torch":
        call = _torch_call(model, skip)
    else:
        raise InvalidInput(f"{ref}: a {kind} model without predict() cannot be evaluated")
    label = _label(store, ref, version)
    return Target(label, f"{kind}:{version.digest}", call, 256, version)


def target(
    model: Any,
    store: Store | None,
    project: str | None,
    skip: set[str],
    load_options: dict[str, Any],
    optional: set[str] | None = None,
) -> Target:
    if isinstance(model, Target):
        return model
    if isinstance(model, str):
        if store is None:
            raise InvalidInput(f"{model!r} names a registered model, but no store is open")
        return from_registry(store, model, project, skip, load_options, optional)
    if callable(model):
        return from_callable(model)
    raise InvalidInput(
        f"model of type {type(model).__name__} cannot be evaluated: give a function or a "
        "models:/name@alias URI"
    )
