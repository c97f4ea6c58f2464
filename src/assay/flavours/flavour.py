"""What a model flavour is: how one kind of model is recognised, saved to a folder, loaded
back and called on a batch.

Every flavour (built-in or from a plugin) implements ``Flavour``; ``assay.flavours.saved``
picks one by name or by ``detect``, evaluation's targets and a model server both call
``predictor(model, metadata)`` and hand it rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Rows = list[dict[str, Any]]  # a batch: one dict of columns per input


@dataclass(frozen=True)
class LoadOptions:
    """What the caller of ``load`` may give; a flavour uses the options it needs."""

    allow_pickle: bool = False  # loading runs code from the file (pickle)
    trusted: Sequence[str] = ()  # types the caller trusts (skops)
    constructor: Callable[[], Any] | None = None  # builds the module a state dict fills
    cls: type | None = None  # the class of a python-flavour model


@dataclass(frozen=True)
class Columns:
    """Which columns of a row are not features: ``skip`` never (label, id, cluster);
    ``optional`` (slices) only when the model says it takes that many features."""

    skip: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Tensor:
    """One input or output of a model, as far as the model tells."""

    name: str
    type: str | None = None  # "float32", "tensor(float)", ...
    shape: tuple[int | str | None, ...] | None = None  # None entries: any size


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Tensor, ...] = ()
    outputs: tuple[Tensor, ...] = ()


@dataclass(frozen=True)
class Predictor:
    """A loaded model as one call: rows in, one output per row out (classifiers with
    probabilities give ``{"prediction", "probabilities", "classes"}``)."""

    call: Callable[[Rows, Columns], list[Any]]
    signature: Signature | None = field(default=None)

    def __call__(self, rows: Rows, columns: Columns | None = None) -> list[Any]:
        return self.call(rows, columns or Columns())


@runtime_checkable
class Flavour(Protocol):
    """One kind of model. ``save`` returns the metadata written to ``assay-model.json``
    (its ``file`` and what ``load`` needs; ``flavour`` is added by the caller)."""

    @property
    def name(self) -> str: ...

    def detect(self, obj: Any) -> bool: ...

    def save(self, obj: Any, folder: Path) -> dict[str, Any]: ...

    def load(self, folder: Path, metadata: Mapping[str, Any], options: LoadOptions) -> Any: ...

    def predictor(self, model: Any, metadata: Mapping[str, Any]) -> Predictor: ...


def qualname(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"
