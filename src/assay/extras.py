"""Which optional extra brings which package, so that a missing one is named with the
``pip install`` that brings it instead of a bare ``No module named 'pandas'``."""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.errors import MissingExtra

EXTRA_OF = {
    "pandas": "tables",
    "pyarrow": "tables",
    "fastapi": "server",
    "uvicorn": "server",
    "jinja2": "server",
    "psycopg": "server",
    "obstore": "server",
    "multipart": "server",
    "starlette": "server",
    "sklearn": "demo",
    "skops": "demo",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "jsonschema": "eval",
    "ray": "ray",
    "datasketches": "monitoring",
    "prometheus_client": "serving",
    "tensorboard": "importers",
    "wandb": "wandb",
    "mlflow": "mlflow",
}


def need(module: str, feature: str) -> ModuleType:
    """Import ``module``, or raise MissingExtra naming the extra that brings it (call it
    before the typed ``import``, which then finds the module loaded)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise missing(exc, feature) or exc from exc


def missing(exc: ModuleNotFoundError, feature: str) -> MissingExtra | None:
    """The MissingExtra that explains ``exc``, if an extra brings the missing package."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return MissingExtra(
        f"{feature} needs {top}, which the '{extra}' extra brings: "
        f"pip install 'assay[{extra}]'"
    )
