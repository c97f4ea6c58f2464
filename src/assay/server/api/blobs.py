"""``store.blobs`` over HTTP, the server side: bytes in and out, and which are missing. A
blob is readable by whoever may read an artifact version or run that holds it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import NotFound
from assay.server.access import (
    require_blob,
    visible_blobs,
)
from assay.server.api.common import Caller, decode_body, doc
from assay.server.body import read_body
from assay.server.deps import AppState, require_some, state_of
from assay.server.negotiate import reply
from assay.store.blobs import blob_name
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")


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


@router.post("/blobs/batch", openapi_extra=doc("blobs"), summary="Store many blobs in one request")
async def put_blobs(request: Request, who: Caller) -> Response:
    """One request carries many chunks (up to ``max_body_bytes``), written together (one
    pack file in a folder) and durable before the answer; the answer lists their digests
    in order."""
    state = state_of(request)
    require_some(state, who, "writer")
    batch = await decode_body(request, wire.BlobBatch)
    digests = await run_in_threadpool(state.store.blobs.put_many, batch.blobs)
    return reply(request, wire.Digests(digests))


@router.post("/blobs/read", openapi_extra=doc("digests"), summary="Read many blobs at once")
async def get_blobs(request: Request, who: Caller) -> Response:
    """The blobs named, in order, each verified against its digest, as many as fit in
    ``max_body_bytes`` (at least one): the client asks again for the rest. NotFound
    names the first one that is not stored or that the caller may not read."""
    state = state_of(request)
    require_some(state, who, "viewer")
    ask = await decode_body(request, wire.Digests)
    for digest in ask.digests:
        blob_name(digest)
    visible = await run_in_threadpool(visible_blobs, state, who, ask.digests)
    for digest in ask.digests:
        if digest not in visible:
            raise NotFound(f"blob {digest} is not stored")
    limit = state.config.max_body_bytes
    blobs = await run_in_threadpool(_read_up_to, state, ask.digests, limit)
    return reply(request, wire.BlobBatch(blobs))


READ_GROUP = 256  # blobs read from the store at a time while filling an answer


def _read_up_to(state: AppState, digests: list[str], limit: int) -> list[bytes]:
    """The first of these blobs, in order, up to ``limit`` bytes (at least one)."""
    blobs: list[bytes] = []
    size = 0
    for start in range(0, len(digests), READ_GROUP):
        for data in state.store.blobs.get_many(digests[start : start + READ_GROUP]):
            if blobs and size + len(data) > limit:
                return blobs
            blobs.append(data)
            size += len(data)
    return blobs


@router.get("/blobs/{digest}", summary="Read a blob (verified against its digest)")
def get_blob(digest: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    blob_name(digest)  # a malformed digest is bad input, before anything is looked up
    require_blob(state, who, digest)
    return Response(state.store.blobs.get(digest), media_type="application/octet-stream")


@router.post("/blobs/missing", openapi_extra=doc("digests"), summary="Which blobs are not stored")
async def missing_blobs(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "viewer")
    ask = await decode_body(request, wire.Digests)
    found = await run_in_threadpool(_missing_for, state, who, ask.digests)
    return reply(request, wire.Missing(found))


def _missing_for(state: AppState, who: Principal, digests: list[str]) -> list[str]:
    """Stored blobs the caller cannot see answer as missing (the client then sends the
    bytes, which proves it has them): a caller cannot probe other projects' files."""
    missing = set(state.store.blobs.missing(digests))
    visible = visible_blobs(state, who, [d for d in digests if d not in missing])
    return [d for d in dict.fromkeys(digests) if d not in visible]
