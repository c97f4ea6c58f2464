"""What is evaluated (or served): a Python callable or a registered model, as one batch-calling
interface.

A callable gets one item (a dict of its columns, the label left out), or a list of them when
it is marked with ``assay.batched``. A registered model is called through its flavour's
predictor (see ``assay.flavours.flavour``): scikit-learn estimators and ONNX sessions get a 2-D
array of the feature columns (see ``assay.flavours.batching``), generic Python models the list
of item dicts through ``predict``. Classifiers that give probabilities return
``{"prediction", "probabilities", "classes"}`` per item.
"""

from __future__ import annotations

import inspect
import marshal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assay import digests
from assay.errors import InvalidInput
from assay.flavours.batching import batched
from assay.flavours.flavour import Columns, Rows
from assay.records import ArtifactVersion
from assay.store.base import Store

__all__ = ["Items", "Target", "batched", "code_digest", "from_callable", "target"]

Items = Rows


@dataclass(frozen=True)
class Target:
    name: str  # what reports show: models:/digits-classifier/3, or the function's name
    key: str  # what the output cache keys on: the model's content digest, the code's digest
    call: Callable[[Items], list[Any]]
    batch_size: int  # items per call
    version: ArtifactVersion | None = None  # the model artifact version, for registered models
    per_item: bool = False  # call takes one item; the runner may still hand a worker several


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
    return digests.of_bytes(name.encode() + b"\0" + body + b"\0" + state)


def _value_bytes(value: Any) -> bytes:
    import pickle

    import msgspec

    try:
        return msgspec.msgpack.encode(value, order="deterministic")
    except (TypeError, OverflowError):
        pass
    try:
        return pickle.dumps(value, protocol=5)  # a fitted model's weights, not just its repr
    except Exception:
        return digests.canonical(value)


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


def _label(store: Store, ref: str, version: ArtifactVersion) -> str:
    """``models:/name/3`` for a registered model (whatever alias named it), else the artifact."""
    from assay.artifacts.uris import ModelRef, parse_ref

    parsed = parse_ref(ref)
    if isinstance(parsed, ModelRef):
        return store.models.version(parsed.name, parsed.selector).uri
    return version.ref


def from_registry(
    store: Store,
    ref: str,
    project: str | None,
    skip: set[str],
    load_options: dict[str, Any],
    *,
    optional: set[str] | None = None,
) -> Target:
    """A registered model (``models:/name@alias``) or a model artifact, loaded by flavour;
    ``optional`` columns (slices) are features only when the model expects them."""
    from assay.artifacts.artifact import download, resolve
    from assay.flavours import saved

    version = resolve(store, ref, project)
    if version.type != "model":
        raise InvalidInput(f"{version.ref} is a {version.type!r} artifact, not a model")
    folder = download(store, version)
    descriptor = saved.read_descriptor(folder)
    kind = descriptor["flavour"]
    model = saved.load(folder, **load_options)
    try:
        predictor = saved.flavour(kind).predictor(model, descriptor)
    except InvalidInput as exc:
        raise InvalidInput(f"{ref}: {exc}") from None
    columns = Columns(skip=frozenset(skip), optional=frozenset(optional or ()))
    label = _label(store, ref, version)
    return Target(
        label, f"{kind}:{version.digest}", lambda rows: predictor(rows, columns), 256, version
    )


def target(
    model: Any,
    store: Store | None,
    project: str | None,
    skip: set[str],
    load_options: dict[str, Any],
    *,
    optional: set[str] | None = None,
) -> Target:
    if isinstance(model, Target):
        return model
    if isinstance(model, str):
        if store is None:
            raise InvalidInput(f"{model!r} names a registered model, but no store is open")
        return from_registry(
            store=store,
            ref=model,
            project=project,
            skip=skip,
            load_options=load_options,
            optional=optional,
        )
    if callable(model):
        return from_callable(model)
    raise InvalidInput(
        f"model of type {type(model).__name__} cannot be evaluated: give a function or a "
        "models:/name@alias URI"
    )
