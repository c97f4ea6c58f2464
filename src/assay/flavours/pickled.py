"""The ``pickle`` flavour: only when asked for (never detected); loading it runs code from
the file, so it needs ``allow_pickle=True``. Called like an estimator (``predict``)."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.flavours.flavour import LoadOptions, Predictor, qualname
from assay.flavours.sklearn import estimator_predictor


class PickleFlavour:
    name = "pickle"

    def detect(self, obj: Any) -> bool:
        return False  # never chosen unless named: loading a pickle runs its code

    def save(self, obj: Any, folder: Path) -> dict[str, Any]:
        with open(folder / "model.pkl", "wb") as f:
            pickle.dump(obj, f)
        return {"file": "model.pkl", "class": qualname(type(obj))}

    def load(self, folder: Path, metadata: Mapping[str, Any], options: LoadOptions) -> Any:
        if not options.allow_pickle:
            raise InvalidInput(
                "this model is a pickle: loading it runs code from the file. Pass "
                "allow_pickle=True only if you trust whoever logged it"
            )
        with open(folder / metadata["file"], "rb") as f:
            return pickle.load(f)  # the caller opted in above

    def predictor(self, model: Any, metadata: Mapping[str, Any]) -> Predictor:
        return estimator_predictor(model, self.name)


flavour = PickleFlavour()
