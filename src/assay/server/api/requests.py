"""The request log over HTTP, the server side. Entries and labels belong to a registered
model: writing them needs the writer role on its project, reading them viewer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.records import RequestBatch
from assay.server.api.common import Caller, decode_body, doc
from assay.server.deps import AppState, require, require_some, state_of
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")


def _model_project(state: AppState, who: Principal, name: str, role: str) -> None:
    require(state, who, state.store.models.get(name).project, role)


@router.post(
    "/requests/batches",
    openapi_extra=doc("writer", "seq", "entries"),
    summary="Store a batch of request-log entries (idempotent by writer and seq)",
)
async def write_requests(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    batch = await decode_body(request, RequestBatch)
    for name in sorted({entry.model for entry in batch.entries}):
        _model_project(state, who, name, "writer")
    applied = await run_in_threadpool(state.store.requests.write_batch, batch, f"user:{who.user}")
    return reply(request, wire.Applied(applied=applied))


@router.post(
    "/models/{name}/labels",
    openapi_extra=doc("ids", "labels"),
    summary="Join labels to a model's request log by request id",
)
async def label_requests(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "writer")
    body = await decode_body(request, wire.LabelRequest)
    joined = await run_in_threadpool(
        state.store.requests.label, name, body.ids, body.labels, f"user:{who.user}"
    )
    return reply(request, joined)


@router.get("/models/{name}/requests", summary="A model's request log, oldest first")
def model_requests(
    name: str,
    request: Request,
    who: Caller,
    *,
    version: Annotated[str | None, Query()] = None,
    arm: Annotated[str | None, Query()] = None,
    since: Annotated[float | None, Query()] = None,
    until: Annotated[float | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    found = state.store.requests.list(
        name, version=version, arm=arm, since=since, until=until, limit=limit
    )
    return reply(request, found)
