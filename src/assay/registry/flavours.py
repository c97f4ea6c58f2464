"""Saving a model to a folder and loading it back, by flavour.

A saved model is a folder with ``assay-model.json`` naming its flavour and files:

- ``sklearn``: scikit-learn (and compatible) estimators in the skops format, loaded with
  skops' type checks: a file naming types outside skops' trusted set and scikit-learn's
  own classes is refused unless the caller lists them in ``trusted``;
- ``torch``: a state dict (``torch.save``, loaded with ``weights_only=True``) rebuilt
  with a constructor the caller gives, or a TorchScript module;
- ``onnx``: an ONNX graph, loaded as an ``onnxruntime.InferenceSession``;
- ``python``: any class with ``save(path)`` and a ``load(path)`` classmethod;
- ``pickle``: only when asked for; loading it runs code from the file, so it needs
  ``allow_pickle=True`` at load time.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput

DESCRIPTOR = "assay-model.json"
FLAVOURS = ("sklearn", "torch", "onnx", "python", "pickle")


def detect(model: Any) -> str:
    module = type(model).__module__.split(".", 1)[0]
    if module == "torch" or any(c.__module__.startswith("torch") for c in type(model).__mro__):
        return "torch"
    if module == "onnx" or isinstance(model, bytes | Path):
        return "onnx"
    if hasattr(model, "save") and hasattr(type(model), "load"):
        return "python"
    if module == "sklearn" or (hasattr(model, "fit") and hasattr(model, "get_params")):
        return "sklearn"
    raise InvalidInput(
        f"cannot tell how to save a {type(model).__qualname__}: pass flavour= "
        f"(one of {', '.join(FLAVOURS)})"
    )


def save(model: Any, folder: Path, flavour: str | None = None) -> dict[str, Any]:
    """Write the model and its descriptor into ``folder``; returns the descriptor."""
    kind = flavour or detect(model)
    if kind not in FLAVOURS:
        raise InvalidInput(f"flavour {kind!r} is not one of {', '.join(FLAVOURS)}")
    folder.mkdir(parents=True, exist_ok=True)
    descriptor: dict[str, Any] = {"flavour": kind, **_SAVERS[kind](model, folder)}
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
    if descriptor.get("flavour") not in FLAVOURS:
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
    kind = descriptor["flavour"]
    if kind == "sklearn":
        return _load_sklearn(folder / descriptor["file"], trusted)
    if kind == "torch":
        return _load_torch(folder / descriptor["file"], descriptor, constructor)
    if kind == "onnx":
        import onnxruntime

        return onnxruntime.InferenceSession(str(folder / descriptor["file"]))
    if kind == "python":
        return _load_python(folder / descriptor["file"], descriptor, cls)
    if not allow_pickle:
        raise InvalidInput(
            "this model is a pickle: loading it runs code from the file. Pass "
            "allow_pickle=True only if you trust whoever logged it"
        )
    import pickle

    with open(folder / descriptor["file"], "rb") as f:
        return pickle.load(f)  # the caller opted in above


# ---- savers ----------------------------------------------------------------------------------


def _save_sklearn(model: Any, folder: Path) -> dict[str, Any]:
    import skops.io

    skops.io.dump(model, folder / "model.skops")
    return {"file": "model.skops", "class": _qualname(type(model))}


def _save_torch(model: Any, folder: Path) -> dict[str, Any]:
    import torch

    if isinstance(model, torch.jit.ScriptModule):
        torch.jit.save(model, str(folder / "model.pt"))
        return {"file": "model.pt", "format": "torchscript"}
    state = model.state_dict() if hasattr(model, "state_dict") else model
    torch.save(state, folder / "state_dict.pt")
    return {"file": "state_dict.pt", "format": "state_dict", "class": _qualname(type(model))}


def _save_onnx(model: Any, folder: Path) -> dict[str, Any]:
    target = folder / "model.onnx"
    if isinstance(model, Path):
        target.write_bytes(model.read_bytes())
    elif isinstance(model, bytes):
        target.write_bytes(model)
    else:
        import onnx

        onnx.save(model, str(target))
    return {"file": "model.onnx"}


def _save_python(model: Any, folder: Path) -> dict[str, Any]:
    inner = folder / "model"
    model.save(inner)
    return {"file": "model", "class": _qualname(type(model))}


def _save_pickle(model: Any, folder: Path) -> dict[str, Any]:
    import pickle

    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    return {"file": "model.pkl", "class": _qualname(type(model))}


_SAVERS: dict[str, Callable[[Any, Path], dict[str, Any]]] = {
    "sklearn": _save_sklearn,
    "torch": _save_torch,
    "onnx": _save_onnx,
    "python": _save_python,
    "pickle": _save_pickle,
}


# ---- loaders ---------------------------------------------------------------------------------


def _load_sklearn(path: Path, trusted: Sequence[str]) -> Any:
    import skops.io

    found = skops.io.get_untrusted_types(file=path)
    # scikit-learn's own classes (say sklearn.tree._tree.Tree) are data, not code; functions
    # and other packages' types still need the caller's word.
    unknown = [t for t in found if t not in trusted and not t.startswith("sklearn.")]
    if unknown:
        raise InvalidInput(
            f"{path.name} names types skops does not trust by default: {', '.join(unknown)}; "
            "pass trusted=[...] with them if you trust whoever logged this model"
        )
    return skops.io.load(path, trusted=[*trusted, *(t for t in found if t.startswith("sklearn."))])


def _load_torch(
    path: Path, descriptor: dict[str, Any], constructor: Callable[[], Any] | None
) -> Any:
    import torch

    if descriptor.get("format") == "torchscript":
        return torch.jit.load(str(path))
    state = torch.load(path, weights_only=True)  # tensors only: never unpickles code
    if constructor is None:
        raise InvalidInput(
            f"this model is a state dict of {descriptor.get('class', 'a module')}: pass "
            "constructor= (a callable returning the module) to load it"
        )
    module = constructor()
    module.load_state_dict(state)
    module.eval()
    return module


def _load_python(path: Path, descriptor: dict[str, Any], cls: type | None) -> Any:
    if cls is None:
        module_name, _, name = str(descriptor.get("class", "")).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise InvalidInput(
                f"cannot import the model class {descriptor.get('class')!r} ({exc}); pass cls="
            ) from exc
    loader: Any = cls
    return loader.load(path)


def _qualname(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"
