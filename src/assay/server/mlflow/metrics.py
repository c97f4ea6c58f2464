"""Metrics, params and tags logged to a run (``log-metric``, ``log-batch``), and metric
histories read back (``get-history``, ``get-history-bulk-interval``). MLflow's
millisecond timestamps become Assay's seconds and back (integers round-trip exactly);
steps are Assay's steps. Assay keeps one point per (key, step): a second value logged at
a step replaces the first, as Assay's own runs do."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
from fastapi import APIRouter, Request

from assay.records import FLOAT, STEP, Op, Points, UpdateRun
from assay.server.deps import require_run, state_of
from assay.server.mlflow.protocol import (
    Ask,
    Caller,
    MlflowError,
    MlflowRoute,
    json_float,
    millis,
    offset_of,
    page_token,
)
from assay.server.mlflow.runs import new_params, readable_run, run_id_of
from assay.server.mlflow.tags import TagChanges, key_values
from assay.server.mlflow.writes import apply

router = APIRouter(route_class=MlflowRoute)
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100  # MLflow's log-batch limits
MAX_BULK_POINTS = 25_000


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"{what} {value!r:.40} is not a number"
        ) from None


def _integer(value: Any, what: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"{what} {value!r:.40} is not an integer"
        ) from None
    if not -(2**63) <= number < 2**63:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{what} {number} does not fit 64 bits")
    return number


def points_of(metrics: list[Any]) -> list[Points]:
    """MLflow metrics as one Points op per key, steps ascending (the last logged value of
    a step wins)."""
    by_key: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    now = millis(time.time()) or 0
    for item in metrics:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{item!r:.80} is not a metric")
        step = _integer(item.get("step"), "step", 0)
        stamp = _integer(item.get("timestamp"), "timestamp", now)
        value = _number(item.get("value"), "value")
        by_key[item["key"]][step] = (stamp / 1000.0, value)
    ops = []
    for key, points in by_key.items():
        steps = sorted(points)
        ops.append(
            Points(
                key=key,
                steps=np.array(steps, dtype=STEP).tobytes(),
                times=np.array([points[s][0] for s in steps], dtype=FLOAT).tobytes(),
                values=np.array([points[s][1] for s in steps], dtype=FLOAT).tobytes(),
            )
        )
    return ops


@router.post("/runs/log-metric")
def log_metric(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    metric = {k: ask.get(k) for k in ("key", "value", "timestamp", "step")}
    apply(state, who, run_id, list(points_of([metric])))
    return {}


@router.post("/runs/log-batch")
def log_batch(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    metrics, params, tags = ask.items("metrics"), ask.items("params"), ask.items("tags")
    for items, limit, what in (
        (metrics, MAX_METRICS, "metrics"),
        (params, MAX_PARAMS, "params"),
        (tags, MAX_TAGS, "tags"),
    ):
        if len(items) > limit:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"A batch logging request can contain at most {limit} {what}. Got {len(items)}",
            )
    ops: list[Op] = list(points_of(metrics))
    if params or tags:
        run = readable_run(state, who, run_id)
        config = new_params(run, key_values(params)) if params else None
        if config:
            ops.append(UpdateRun(at=time.time(), config=config))
        if tags:
            ops.extend(TagChanges.of(key_values(tags), current=run).ops(run))
    apply(state, who, run_id, ops)
    return {}


@router.get("/metrics/get-history")
def get_history(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    require_run(state, who, run_id, "viewer")
    key = ask.text("metric_key")
    columns = state.store.runs.history(run_id, [key]).get(key)
    points = [] if columns is None else _points(key, columns.steps, columns.times, columns.values)
    limit = ask.integer("max_results")
    if limit is None:
        return {"metrics": points}
    offset = offset_of(ask.optional_text("page_token"))
    answer: dict[str, Any] = {"metrics": points[offset : offset + limit]}
    if offset + limit < len(points):
        answer["next_page_token"] = page_token(offset + limit)
    return answer


def _points(key: str, steps: Any, times: Any, values: Any) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": json_float(v), "timestamp": round(t * 1000), "step": int(s)}
        for s, t, v in zip(steps.tolist(), times.tolist(), values.tolist(), strict=True)
    ]


@router.get("/metrics/get-history-bulk-interval")
def get_history_bulk_interval(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    """Each run's series within [start_step, end_step], at most ``max_results`` points a
    run (Assay's downsampling keeps each bucket's minimum and maximum)."""
    state = state_of(request)
    run_ids = [str(r) for r in ask.items("run_ids")] or [run_id_of(ask)]
    if len(run_ids) > 100:
        raise MlflowError("INVALID_PARAMETER_VALUE", "at most 100 runs at once")
    key = ask.text("metric_key")
    for run_id in run_ids:
        require_run(state, who, run_id, "viewer")
    points = ask.integer("max_results", 320) or 320
    if not 4 <= points <= MAX_BULK_POINTS:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be 4..{MAX_BULK_POINTS}")
    start, end = ask.integer("start_step"), ask.integer("end_step")
    data = state.store.runs.series(run_ids, [key], points, start, end)
    found = []
    for run_id in run_ids:
        columns = data.get((run_id, key))
        if columns is None:
            continue
        for point in _points(key, columns.steps, columns.times, columns.values):
            found.append({**point, "run_id": run_id})
    return {"metrics": found}


@router.get("/metrics/get-history-bulk")
def get_history_bulk(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    """Every point of one key for several runs (MLflow's web UI asks this), at most
    ``max_results`` points a run."""
    state = state_of(request)
    run_ids = [str(r) for r in ask.items("run_id")]
    if not 0 < len(run_ids) <= 100:
        raise MlflowError("INVALID_PARAMETER_VALUE", "give 1 to 100 run_id values")
    key = ask.text("metric_key")
    limit = ask.integer("max_results", MAX_BULK_POINTS) or MAX_BULK_POINTS
    found: list[dict[str, Any]] = []
    for run_id in run_ids:
        require_run(state, who, run_id, "viewer")
        columns = state.store.runs.history(run_id, [key]).get(key)
        if columns is not None:
            points = _points(key, columns.steps, columns.times, columns.values)[:limit]
            found.extend({**p, "run_id": run_id} for p in points)
    return {"metrics": found}
