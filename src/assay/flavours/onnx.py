"""ONNX graphs (an ``onnx.ModelProto``, its bytes, or a path to a ``.onnx`` file), loaded as
an ``onnxruntime.InferenceSession`` and called on a float32 array of the feature columns
(its first input); the output is its first output. The signature is the graph's own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.flavours.batching import features
from assay.flavours.flavour import Columns, LoadOptions, Predictor, Rows, Signature, Tensor


class OnnxFlavour:
    name = "onnx"

    def detect(self, obj: Any) -> bool:
        return type(obj).__module__.split(".", 1)[0] == "onnx" or isinstance(obj, bytes | Path)

    def save(self, obj: Any, folder: Path) -> dict[str, Any]:
        target = folder / "model.onnx"
        if isinstance(obj, Path):
            target.write_bytes(obj.read_bytes())
        elif isinstance(obj, bytes):
            target.write_bytes(obj)
        else:
            import onnx

            onnx.save(obj, str(target))
        return {"file": "model.onnx"}

    def load(self, folder: Path, metadata: Mapping[str, Any], options: LoadOptions) -> Any:
        import onnxruntime

        return onnxruntime.InferenceSession(str(folder / metadata["file"]))

    def predictor(self, model: Any, metadata: Mapping[str, Any]) -> Predictor:
        import numpy as np

        name = model.get_inputs()[0].name

        def call(rows: Rows, columns: Columns) -> list[Any]:
            x = np.asarray(features(rows, model, Columns(skip=columns.skip)), dtype=np.float32)
            first = model.run(None, {name: x})[0]
            return list(np.asarray(first).tolist())

        return Predictor(call=call, signature=_signature(model))


flavour = OnnxFlavour()


def _signature(session: Any) -> Signature:
    def tensors(args: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor(name=a.name, type=a.type, shape=tuple(a.shape)) for a in args)

    return Signature(inputs=tensors(session.get_inputs()), outputs=tensors(session.get_outputs()))
