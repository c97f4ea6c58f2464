"""``store.runs`` over HTTP, the server side: batches in (msgpack or JSON, gzip allowed: the
hot path), runs, series and console output out."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import InvalidInput, LimitExceeded, NotFound
from assay.records import (
    Batch,
    CreateRun,
    Media,
    Points,
    RunEdit,
)
from assay.server.access import require_usable
from assay.server.api.common import Caller, decode_body, doc
from assay.server.body import read_body
from assay.server.deps import AppState, require, require_run, require_some, state_of
from assay.server.negotiate import body_type, reply
from assay.store.sql.auth import Principal, role_at_least

router = APIRouter(prefix="/api/v1")
STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1  # steps are stored as int64


_INGEST_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["batches"],
                    "properties": {"batches": {"type": "array", "items": {"type": "object"}}},
                }
            },
        },
    }
}


@router.post("/batches", openapi_extra=_INGEST_DOC, summary="Deliver batches of run operations")
async def ingest(request: Request, who: Caller) -> Response:
    """Apply each batch once: a batch seen before, keyed by (run, writer, seq), is skipped.
    A request's batches go in together, all or none, with the batches of the requests
    this process receives at the same moment (one transaction: group commit); the
    answer comes once they are committed."""
    state = state_of(request)
    require_some(state, who, "writer")
    body = await read_body(request, state.config.max_body_bytes)
    try:
        payload = wire.decode(body, wire.IngestRequest, body_type(request))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInput(f"batches do not decode: {exc}") from None
    _check_size(payload.batches, state.config.max_batch_points)
    applied = await run_in_threadpool(_apply, state, who, payload.batches)
    return reply(request, wire.IngestResponse(applied))


def _check_size(batches: list[Batch], limit: int) -> None:
    points = sum(op.count for b in batches for op in b.ops if isinstance(op, Points))
    if points > limit:
        raise LimitExceeded(f"{points} points in one request exceeds max_batch_points={limit}")


def _apply(state: AppState, who: Principal, batches: list[Batch]) -> list[bool]:
    """Every project a batch touches (its run's, and each run-creating op's) needs the
    writer role: a second CreateRun in a batch must not reach another project."""
    known: dict[str, str] = {}  # run id -> its project, for runs created earlier in the request
    allowed: set[str] = set()
    for batch in batches:
        for project in sorted(_projects_of(state, batch, known)):
            if project not in allowed:
                require(state, who, project, "writer")
                allowed.add(project)
    named = [d for b in batches for op in b.ops if isinstance(op, Media) for d in op.blobs]
    if named:  # a run may hold only blobs its writer may name (as an artifact's files)
        require_usable(state, who, named)
    return state.store.runs.write_batches(batches, actor=f"user:{who.user}")


def _projects_of(state: AppState, batch: Batch, known: dict[str, str]) -> set[str]:
    created = [op.project for op in batch.ops if isinstance(op, CreateRun)]
    if batch.run_id not in known:
        try:
            known[batch.run_id] = state.store.runs.project_of(batch.run_id)
        except NotFound:
            if not created:
                raise
            known[batch.run_id] = created[0]
    return {known[batch.run_id], *created}


@router.get("/projects", summary="Projects the caller may read")
def projects(request: Request, who: Caller) -> Response:
    state = state_of(request)
    found = state.store.runs.projects()
    if not who.is_admin:
        visible = state.auth.grants_of(who.user)
        found = [p for p in found if role_at_least(visible.get(p.name), "viewer")]
    return reply(request, found)


@router.get("/projects/{project}/runs", summary="Runs of a project (filter language)")
def runs(
    project: str,
    request: Request,
    who: Caller,
    *,
    filter: Annotated[str | None, Query(max_length=4096)] = None,
    order_by: Annotated[list[str] | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    deleted: bool = False,
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    found = state.store.runs.list(
        project, filter, tuple(order_by or ()), limit, offset, deleted=deleted
    )
    return reply(request, found)


@router.get("/projects/{project}/runs/count", summary="How many runs match a filter")
def count_runs(
    project: str,
    request: Request,
    who: Caller,
    filter: Annotated[str | None, Query(max_length=4096)] = None,
    deleted: bool = False,
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, {"count": state.store.runs.count(project, filter, deleted=deleted)})


@router.get("/runs/{run_id}", summary="One run")
def run(run_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    return reply(request, state.store.runs.get(run_id))


@router.patch(
    "/runs/{run_id}", openapi_extra=doc(), summary="Edit a run's name, notes, group, job type, tags"
)
async def edit_run(run_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "writer")
    edit = await decode_body(request, RunEdit)
    return reply(request, state.store.runs.update(run_id, edit, actor=f"user:{who.user}"))


@router.delete("/runs/{run_id}", summary="Delete a run (softly: restorable until gc purges it)")
def delete_run(
    run_id: str, request: Request, who: Caller, with_artifacts: bool = False
) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "writer")
    deleted = state.store.runs.delete(
        run_id, actor=f"user:{who.user}", with_artifacts=with_artifacts
    )
    return reply(request, deleted)


@router.post("/runs/{run_id}/restore", summary="Restore a deleted run")
def restore_run(run_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "writer")
    return reply(request, state.store.runs.restore(run_id, actor=f"user:{who.user}"))


@router.post(
    "/runs/{run_id}/move",
    openapi_extra=doc("project"),
    summary="Move a run to another project (writer on both)",
)
async def move_run(run_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "writer")
    ask = await decode_body(request, wire.MoveRun)
    require(state, who, ask.project, "writer")
    return reply(request, state.store.runs.move(run_id, ask.project, actor=f"user:{who.user}"))


@router.get("/runs/{run_id}/history", summary="Every point of a run's series")
def history(
    run_id: str,
    request: Request,
    who: Caller,
    keys: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    data = state.store.runs.history(run_id, keys)
    return reply(request, [wire.to_wire(run_id, k, c) for k, c in data.items()])


@router.get("/runs/{run_id}/logs", summary="The run's captured console output")
def logs(
    run_id: str,
    request: Request,
    who: Caller,
    tail: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    return reply(request, state.store.runs.log_lines(run_id, tail))


@router.post(
    "/series",
    summary="Series downsampled to at most `points` points, min/max kept",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["run_ids", "keys"],
                        "properties": {
                            "run_ids": {"type": "array", "items": {"type": "string"}},
                            "keys": {"type": "array", "items": {"type": "string"}},
                            "points": {"type": "integer", "minimum": 4, "maximum": 20000},
                            "start": {"type": "integer"},
                            "end": {"type": "integer"},
                        },
                    }
                }
            },
        }
    },
)
async def series(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "viewer")
    body = await read_body(request, state.config.max_body_bytes)
    try:
        ask = wire.decode(body, wire.SeriesRequest, body_type(request))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInput(f"series request does not decode: {exc}") from None
    config = state.config
    if len(ask.run_ids) * len(ask.keys) > config.max_series:
        raise LimitExceeded(
            f"{len(ask.run_ids)} runs x {len(ask.keys)} keys exceeds max_series={config.max_series}"
        )
    if not 4 <= ask.points <= config.max_series_points:
        raise LimitExceeded(f"points must be 4..{config.max_series_points} (max_series_points)")
    check_step_range(ask.start, ask.end)

    def work() -> list[wire.SeriesWire]:
        for run_id in ask.run_ids:
            require_run(state, who, run_id, "viewer")
        data = state.store.runs.series(ask.run_ids, ask.keys, ask.points, ask.start, ask.end)
        return [wire.to_wire(r, k, c) for (r, k), c in data.items()]

    return reply(request, await run_in_threadpool(work))


def check_step_range(start: int | None, end: int | None) -> None:
    for name, step in (("start", start), ("end", end)):
        if step is not None and not STEP_MIN <= step <= STEP_MAX:
            raise InvalidInput(f"{name}={step} is not a step (steps are 64-bit integers)")
