"""scikit-learn (and compatible) estimators, saved in the skops format and loaded with
skops' type checks: a file naming types outside skops' trusted set and scikit-learn's own
classes is refused unless the caller lists them in ``trusted``. Called on a 2-D array of
the feature columns (a DataFrame with the model's ``feature_names_in_`` when it has them);
classifiers with ``predict_proba`` give ``{"prediction", "probabilities", "classes"}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.extras import need
from assay.flavours.batching import features, named
from assay.flavours.flavour import (
    Columns,
    LoadOptions,
    Predictor,
    Rows,
    Signature,
    Tensor,
    qualname,
)


class SklearnFlavour:
    name = "sklearn"

    def detect(self, obj: Any) -> bool:
        module = type(obj).__module__.split(".", 1)[0]
        return module == "sklearn" or (hasattr(obj, "fit") and hasattr(obj, "get_params"))

    def save(self, obj: Any, folder: Path) -> dict[str, Any]:
        need("skops.io", "saving a scikit-learn model (its format is skops)")
        import skops.io

        skops.io.dump(obj, folder / "model.skops")
        return {"file": "model.skops", "class": qualname(type(obj))}

    def load(self, folder: Path, metadata: Mapping[str, Any], options: LoadOptions) -> Any:
        return _load_skops(folder / metadata["file"], options.trusted)

    def predictor(self, model: Any, metadata: Mapping[str, Any]) -> Predictor:
        return estimator_predictor(model, self.name)


flavour = SklearnFlavour()


def _load_skops(path: Path, trusted: Sequence[str]) -> Any:
    need("skops.io", "loading a scikit-learn model (its format is skops)")
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


def estimator_predictor(model: Any, kind: str) -> Predictor:
    """Any model with ``predict`` (and maybe ``predict_proba``) taking a feature array."""
    if not hasattr(model, "predict"):
        raise InvalidInput(f"a {kind} model without predict() cannot be evaluated")
    has_proba = hasattr(model, "predict_proba")
    classes = getattr(model, "classes_", None)

    def call(rows: Rows, columns: Columns) -> list[Any]:
        x = named(features(rows, model, columns), model)
        predictions: list[Any] = model.predict(x).tolist()
        if not has_proba or classes is None:
            return predictions
        probs = model.predict_proba(x).tolist()
        names = classes.tolist()
        return [
            {"prediction": p, "probabilities": q, "classes": names}
            for p, q in zip(predictions, probs, strict=True)
        ]

    return Predictor(call=call, signature=_signature(model))


def _signature(model: Any) -> Signature | None:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return Signature(inputs=tuple(Tensor(name=str(n)) for n in names))
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, int):
        return Signature(inputs=(Tensor(name="x", type="float64", shape=(None, count)),))
    return None
