"""Saving a model to a folder and loading it back, by flavour.

A saved model is a folder with ``assay-model.json`` naming its flavour and files. The
built-in flavours (one module each in this package) are ``sklearn``, ``torch``, ``onnx``,
``python`` and ``pickle`` (only when asked for: loading it runs code from the file, so it
needs ``allow_pickle=True``); third-party packages add theirs through the
``assay.flavours`` entry-point group (see ``assay.plugins``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.flavours.flavour import Flavour, LoadOptions
from assay.plugins import Registry

DESCRIPTOR = "assay-model.json"


def _instance(loaded: Any) -> Flavour:
    """What an ``assay.flavours`` entry point names: a flavour, or a class making one."""
    flavour = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(flavour, Flavour):
        raise TypeError(f"{loaded!r} is not a flavour (name, detect, save, load, predictor)")
    return flavour


def _registry() -> Registry[Flavour]:
    from assay.flavours import onnx, pickled, python, sklearn, torch

    found: Registry[Flavour] = Registry("assay.flavours", "flavour", adapt=_instance)
    # detection tries them in this order, plugins after the built-ins
    for module in (torch, onnx, python, sklearn, pickled):
        found.register(module.flavour.name, module.flavour)
    return found


FLAVOURS = _registry()


def flavour(name: str) -> Flavour:
    return FLAVOURS.get(name)


def detect(model: Any) -> str:
    for candidate in FLAVOURS.loaded():
        if candidate.detect(model):
            return candidate.name
    for name in FLAVOURS.names():  # third-party flavours, loaded as asked
        if name in FLAVOURS and _detects(name, model):
            return name
    raise InvalidInput(
        f"cannot tell how to save a {type(model).__qualname__}: pass flavour= "
        f"(one of {', '.join(FLAVOURS.names())})"
    )


def _detects(name: str, model: Any) -> bool:
    try:
        return FLAVOURS.get(name).detect(model)
    except InvalidInput:  # a broken plugin: `assay plugins` names it
        return False


def save(model: Any, folder: Path, flavour: str | None = None) -> dict[str, Any]:
    """Write the model and its descriptor into ``folder``; returns the descriptor."""
    kind = flavour or detect(model)
    if kind not in FLAVOURS:
        raise InvalidInput(f"flavour {kind!r} is not one of {', '.join(FLAVOURS.names())}")
    chosen = FLAVOURS.get(kind)
    folder.mkdir(parents=True, exist_ok=True)
    descriptor: dict[str, Any] = {"flavour": kind, **chosen.save(model, folder)}
    (folder / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2, sort_keys=True))
    return descriptor


def read_descriptor(folder: Path) -> dict[str, Any]:
    try:
        descriptor = json.loads((folder / DESCRIPTOR).read_text())
    except FileNotFoundError:
        raise InvalidInput(
            f"{folder} has no {DESCRIPTOR}: log models with run.log_model (or save them "
            "with assay.models.save) to load them by flavour"
        ) from None
    kind = descriptor.get("flavour")
    if not isinstance(kind, str) or kind not in FLAVOURS:
        raise InvalidInput(f"{folder / DESCRIPTOR} names an unknown flavour")
    return dict(descriptor)


def load(
    folder: Path,
    *,
    constructor: Callable[[], Any] | None = None,
    trusted: Sequence[str] = (),
    allow_pickle: bool = False,
    cls: type | None = None,
) -> Any:
    descriptor = read_descriptor(folder)
    options = LoadOptions(
        allow_pickle=allow_pickle, trusted=tuple(trusted), constructor=constructor, cls=cls
    )
    return FLAVOURS.get(descriptor["flavour"]).load(folder, descriptor, options)
