"""Evaluation routes. Storing one needs the writer role on its project (and read access to
the versions, the baseline and the run it links); reading needs viewer. An evaluation too
large for one request body comes in parts: its item results as blobs, then the draft."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import InvalidInput, LimitExceeded, NotFound
from assay.records import (
    EvalItem,
    EvaluationDraft,
)
from assay.server.access import (
    usable_blobs,
)
from assay.server.api.artifacts import version_for
from assay.server.api.common import Caller, decode_body, doc, visible
from assay.server.deps import AppState, require, require_run, require_some, state_of
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")
PARTS_LIMIT = 16  # an evaluation sent in parts holds up to 16 request bodies' worth of items


def _readable(state: AppState, who: Principal, evaluation_id: str) -> None:
    require(state, who, state.store.evaluations.get(evaluation_id).project, "viewer")


@router.post(
    "/evaluations",
    openapi_extra=doc("project", "name", "model", "items"),
    summary="Store an evaluation and its per-item results",
)
async def save_evaluation(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    draft = await decode_body(request, EvaluationDraft)
    _may_store(state, who, draft)
    saved = await run_in_threadpool(state.store.evaluations.save, draft, f"user:{who.user}")
    return reply(request, saved, 201)


@router.post(
    "/evaluations/parts",
    openapi_extra=doc("draft", "item_blobs"),
    summary="Store an evaluation whose item results were uploaded as blobs",
)
async def save_evaluation_parts(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    parts = await decode_body(request, wire.EvaluationParts)
    _may_store(state, who, parts.draft)
    if parts.draft.items:
        raise InvalidInput("an evaluation sent in parts carries its items in item_blobs only")
    _may_use(state, who, parts.item_blobs)
    items = await run_in_threadpool(_items_in, state, parts.item_blobs)
    draft = msgspec.structs.replace(parts.draft, items=items)
    saved = await run_in_threadpool(state.store.evaluations.save, draft, f"user:{who.user}")
    return reply(request, saved, 201)


def _may_store(state: AppState, who: Principal, draft: EvaluationDraft) -> None:
    require(state, who, draft.project, "writer")
    for version_id in (draft.model_version_id, draft.dataset_version_id):
        if version_id is not None:
            version_for(state, who, version_id, "viewer")
    if draft.baseline_id is not None:
        _readable(state, who, draft.baseline_id)
    if draft.run_id is not None:
        require_run(state, who, draft.run_id, "viewer")


def _may_use(state: AppState, who: Principal, digests: list[str]) -> None:
    """Item blobs are the caller's fresh uploads; one another project holds answers as
    not stored, like a blob that is not there (nothing to probe)."""
    usable = usable_blobs(state, who, digests)
    for digest in digests:
        if digest not in usable:
            raise InvalidInput(f"item blob {digest} is not stored: upload it first")


_item_list = msgspec.msgpack.Decoder(list[EvalItem])


def _items_in(state: AppState, digests: list[str]) -> list[EvalItem]:
    """The item results held by ``digests``, in order, within PARTS_LIMIT times the body limit."""
    limit = PARTS_LIMIT * state.config.max_body_bytes
    items: list[EvalItem] = []
    total = 0
    for digest in digests:
        try:
            data = state.store.blobs.get(digest)
        except NotFound:
            raise InvalidInput(f"item blob {digest} is not stored: upload it first") from None
        total += len(data)
        if total > limit:
            raise LimitExceeded(f"an evaluation's item blobs exceed {limit} bytes")
        try:
            items.extend(_item_list.decode(data))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidInput(f"item blob {digest} is not a list of item results: {exc}") from None
    return items


@router.get("/evaluations", summary="Evaluations the caller may read, newest first")
def evaluations(
    request: Request,
    who: Caller,
    *,
    project: Annotated[str | None, Query()] = None,
    model_version: Annotated[str | None, Query()] = None,
    dataset_version: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    state = state_of(request)
    found = state.store.evaluations.list(project, model_version, dataset_version, limit, offset)
    return reply(request, [e for e in found if visible(state, who, e.project)])


@router.get("/evaluations/{evaluation_id}", summary="One evaluation and its report")
def evaluation(evaluation_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    found = state.store.evaluations.get(evaluation_id)
    require(state, who, found.project, "viewer")
    return reply(request, found)


@router.get("/evaluations/{evaluation_id}/items", summary="An evaluation's per-item results")
def evaluation_items(evaluation_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _readable(state, who, evaluation_id)
    return reply(request, state.store.evaluations.items(evaluation_id))
