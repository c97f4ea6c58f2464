"""Generic Python models: any class with ``save(path)`` and a ``load(path)`` classmethod,
called through ``predict`` with the list of rows as they are."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.flavours.flavour import Columns, LoadOptions, Predictor, Rows, qualname


class PythonFlavour:
    name = "python"

    def detect(self, obj: Any) -> bool:
        return hasattr(obj, "save") and hasattr(type(obj), "load")

    def save(self, obj: Any, folder: Path) -> dict[str, Any]:
        obj.save(folder / "model")
        return {"file": "model", "class": qualname(type(obj))}

    def load(self, folder: Path, metadata: Mapping[str, Any], options: LoadOptions) -> Any:
        cls = options.cls if options.cls is not None else _class(metadata)
        loader: Any = cls
        return loader.load(folder / metadata["file"])

    def predictor(self, model: Any, metadata: Mapping[str, Any]) -> Predictor:
        if not hasattr(model, "predict"):
            raise InvalidInput(f"a {self.name} model without predict() cannot be evaluated")

        def call(rows: Rows, columns: Columns) -> list[Any]:
            return list(model.predict(rows))

        return Predictor(call=call)


flavour = PythonFlavour()


def _class(metadata: Mapping[str, Any]) -> type:
    module_name, _, name = str(metadata.get("class", "")).rpartition(".")
    try:
        found: type = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidInput(
            f"cannot import the model class {metadata.get('class')!r} ({exc}); pass cls="
        ) from exc
    return found
