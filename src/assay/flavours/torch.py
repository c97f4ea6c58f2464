"""PyTorch modules: a state dict (``torch.save``, loaded with ``weights_only=True``) rebuilt
with a constructor the caller gives, or a TorchScript module. Called on a float32 tensor of
the feature columns (or through ``predict`` when the module has one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.flavours.batching import features
from assay.flavours.flavour import Columns, LoadOptions, Predictor, Rows, qualname
from assay.flavours.sklearn import estimator_predictor


class TorchFlavour:
    name = "torch"

    def detect(self, obj: Any) -> bool:
        kind = type(obj)
        return kind.__module__.split(".", 1)[0] == "torch" or any(
            c.__module__.startswith("torch") for c in kind.__mro__
        )

    def save(self, obj: Any, folder: Path) -> dict[str, Any]:
        import torch

        if isinstance(obj, torch.jit.ScriptModule):
            torch.jit.save(obj, str(folder / "model.pt"))
            return {"file": "model.pt", "format": "torchscript"}
        state = obj.state_dict() if hasattr(obj, "state_dict") else obj
        torch.save(state, folder / "state_dict.pt")
        return {"file": "state_dict.pt", "format": "state_dict", "class": qualname(type(obj))}

    def load(self, folder: Path, metadata: Mapping[str, Any], options: LoadOptions) -> Any:
        return _load(folder / metadata["file"], metadata, options.constructor)

    def predictor(self, model: Any, metadata: Mapping[str, Any]) -> Predictor:
        if hasattr(model, "predict"):
            return estimator_predictor(model, self.name)
        import torch

        def call(rows: Rows, columns: Columns) -> list[Any]:
            x = features(rows, model, Columns(skip=columns.skip))
            with torch.no_grad():
                return list(model(torch.as_tensor(x, dtype=torch.float32)).tolist())

        return Predictor(call=call)


flavour = TorchFlavour()


def _load(path: Path, metadata: Mapping[str, Any], constructor: Callable[[], Any] | None) -> Any:
    import torch

    if metadata.get("format") == "torchscript":
        jit: Any = torch.jit  # untyped in some torch releases
        return jit.load(str(path))
    state = torch.load(path, weights_only=True)  # tensors only: never unpickles code
    if constructor is None:
        raise InvalidInput(
            f"this model is a state dict of {metadata.get('class', 'a module')}: pass "
            "constructor= (a callable returning the module) to load it"
        )
    module = constructor()
    module.load_state_dict(state)
    module.eval()
    return module
