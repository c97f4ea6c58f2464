"""Prometheus metrics of a model server, served at ``/metrics``.

- ``assay_serving_requests_total{model, version, status}``: requests answered;
- ``assay_serving_request_seconds{model}``: time from the body read to the answer sent;
- ``assay_serving_stage_seconds{model, stage}``: where that time goes (``parse``,
  ``queue``, ``predict`` per call, ``encode``);
- ``assay_serving_batch_rows{model}``: rows per predict call;
- ``assay_serving_queue_rows{model}``: rows waiting;
- ``assay_serving_swaps_total{model}`` / ``assay_serving_load_failures_total{model}``:
  alias moves served, and versions that failed to load;
- ``assay_serving_request_log_entries_total`` / ``assay_serving_request_log_dropped_total``:
  request-log entries queued for the store, and entries dropped past the writer's limit
  (docs/serving.md, "Request log").

With several worker processes (``--workers N``) the server sets prometheus-client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, a fresh folder per server) and
``/metrics`` adds up every worker's figures, whichever worker answers.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from assay.serving.loader import LoadedModel

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

REQUESTS = Counter("assay_serving_requests", "Requests answered", ["model", "version", "status"])
LATENCY = Histogram(
    "assay_serving_request_seconds", "Request latency in the server", ["model"], buckets=_LATENCY
)
STAGES = Histogram(
    "assay_serving_stage_seconds", "Time per stage", ["model", "stage"], buckets=_LATENCY
)
BATCH_ROWS = Histogram(
    "assay_serving_batch_rows", "Rows per predict call", ["model"], buckets=_ROWS
)
QUEUE = Gauge(
    "assay_serving_queue_rows",
    "Rows waiting to be predicted",
    ["model"],
    multiprocess_mode="livesum",
)
SWAPS = Counter("assay_serving_swaps", "Model versions swapped in after an alias move", ["model"])
LOAD_FAILURES = Counter(
    "assay_serving_load_failures",
    "Versions that failed to load (the previous one serves)",
    ["model"],
)
LOG_ENTRIES = Counter("assay_serving_request_log_entries", "Request-log entries queued")
LOG_DROPPED = Counter(
    "assay_serving_request_log_dropped",
    "Request-log entries dropped: the writer's queue was full (see the server's log)",
)


class Metrics:
    """The batcher's recorder and the routes' counters, with label children cached."""

    def __init__(self) -> None:
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def answered(self, model: str, version: str, status: int, seconds: float) -> None:
        self._child(REQUESTS, model, version, str(status)).inc()
        self._child(LATENCY, model).observe(seconds)

    def stage(self, model: str, stage: str, seconds: float) -> None:
        self._child(STAGES, model, stage).observe(seconds)

    def batch(self, model: LoadedModel, rows: int, seconds: float) -> None:
        self._child(BATCH_ROWS, model.name).observe(rows)
        self._child(STAGES, model.name, "predict").observe(seconds)

    def waited(self, model: LoadedModel, seconds: float) -> None:
        self._child(STAGES, model.name, "queue").observe(seconds)

    def depth(self, name: str, rows: int) -> None:
        self._child(QUEUE, name).set(rows)

    def swapped(self, name: str) -> None:
        self._child(SWAPS, name).inc()

    def load_failed(self, name: str) -> None:
        self._child(LOAD_FAILURES, name).inc()


def exposition() -> tuple[bytes, str]:
    """The text format of every metric (of every worker in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
