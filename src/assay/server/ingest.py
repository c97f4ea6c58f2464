"""The hot path: batches in (msgpack or JSON, gzip allowed), and blobs."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import InvalidInput, LimitExceeded, NotFound
from assay.records import Batch, CreateRun, Points
from assay.server.access import require_blob
from assay.server.body import read_body
from assay.server.deps import AppState, principal, require, require_some, state_of
from assay.server.negotiate import body_type, reply
from assay.store.blobs import blob_name
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")
Caller = Annotated[Principal, Depends(principal)]

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
    """Apply each batch once: a batch seen before, keyed by (run, writer, seq), is skipped."""
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
    points = sum(len(op.values) // 8 for b in batches for op in b.ops if isinstance(op, Points))
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
    return [state.store.runs.write_batch(batch, actor=f"user:{who.user}") for batch in batches]


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


@router.put(
    "/blobs",
    summary="Store bytes under their BLAKE3 digest",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_blob(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    data = await read_body(request, state.config.max_body_bytes)
    digest = await run_in_threadpool(state.store.blobs.put, data)
    return reply(request, wire.BlobRef(digest))


@router.get("/blobs/{digest}", summary="Read a blob (verified against its digest)")
def get_blob(digest: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    blob_name(digest)  # a malformed digest is bad input, before anything is looked up
    require_blob(state, who, digest)
    return Response(state.store.blobs.get(digest), media_type="application/octet-stream")
