"""Assay: a system of record for machine-learning teams.

    import assay
    run = assay.init(project="digits", config={"lr": 0.1})
    run.log({"loss": 0.31, "acc": 0.9})
    run.finish()

The names below are the public API (pinned by tests/test_public_api.py). They load on
first use, so ``import assay`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from assay import errors
from assay._version import __version__

if TYPE_CHECKING:
    from assay import labeling, monitoring
    from assay.artifacts.artifact import Artifact
    from assay.evaluation import scorers
    from assay.flavours.batching import batched
    from assay.media import Audio, Histogram, Html, Image, Plot, Table, Text, Video
    from assay.sdk import models, prompts
    from assay.sdk.api import Api, ApiRun
    from assay.sdk.evaluation import evaluate
    from assay.sdk.init import init
    from assay.sdk.models import register_model
    from assay.sdk.module import active_run, finish, flush, log
    from assay.sdk.run import Run
    from assay.sdk.settings import Settings
    from assay.sdk.sweeps import sweep
    from assay.sdk.traced import trace
    from assay.sdk.tracer import flush_traces
    from assay.sdk.traces import feedback
    from assay.sdk.tracing import span
    from assay.serving import serve
    from assay.serving.client import predict

__all__ = [
    "Api",
    "ApiRun",
    "Artifact",
    "Audio",
    "Histogram",
    "Html",
    "Image",
    "Plot",
    "Run",
    "Settings",
    "Table",
    "Text",
    "Video",
    "__version__",
    "active_run",
    "batched",
    "errors",
    "evaluate",
    "feedback",
    "finish",
    "flush",
    "flush_traces",
    "init",
    "labeling",
    "log",
    "models",
    "monitoring",
    "predict",
    "prompts",
    "register_model",
    "scorers",
    "serve",
    "span",
    "sweep",
    "trace",
]

_LAZY = {
    "Api": "assay.sdk.api",
    "Artifact": "assay.artifacts.artifact",
    "register_model": "assay.sdk.models",
    "ApiRun": "assay.sdk.api",
    "Run": "assay.sdk.run",
    "Settings": "assay.sdk.settings",
    "init": "assay.sdk.init",
    "log": "assay.sdk.module",
    "flush": "assay.sdk.module",
    "finish": "assay.sdk.module",
    "active_run": "assay.sdk.module",
    "evaluate": "assay.sdk.evaluation",
    "feedback": "assay.sdk.traces",
    "batched": "assay.flavours.batching",
    "serve": "assay.serving",
    "Audio": "assay.media",
    "Histogram": "assay.media",
    "Html": "assay.media",
    "Image": "assay.media",
    "Plot": "assay.media",
    "Table": "assay.media",
    "Text": "assay.media",
    "Video": "assay.media",
    "predict": "assay.serving.client",
    "sweep": "assay.sdk.sweeps",
    "trace": "assay.sdk.traced",
    "flush_traces": "assay.sdk.tracer",
    "span": "assay.sdk.tracing",
}


_MODULES = {
    "models": "assay.sdk.models",
    "prompts": "assay.sdk.prompts",
    "scorers": "assay.evaluation.scorers",
    "labeling": "assay.labeling",
    "monitoring": "assay.monitoring",
}


# Public names shown by a package below the layer that implements them: the domain
# package assay.monitoring never imports the SDK, yet ``assay.monitoring.log`` (logging
# batch inference into the request log) is the SDK's. This package sits above every
# layer, so it hands them over: the lower package's module ``__getattr__`` asks here.
_ATTACHED = {
    ("assay.monitoring", "log"): "assay.sdk.requests",
    ("assay.monitoring", "flush_requests"): "assay.sdk.requests",
}


def _attached(module: str, name: str) -> Any:
    source = _ATTACHED.get((module, name))
    if source is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return getattr(import_module(source), name)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = import_module(_MODULES[name])
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
