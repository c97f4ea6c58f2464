"""``store.media`` over HTTP, the server side: a run's media keys and the values logged
under one (their blobs are read through /api/v1/blobs, which the run's holding allows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from assay.server.api.common import Caller
from assay.server.api.runs import check_step_range
from assay.server.deps import require_run, state_of
from assay.server.negotiate import reply
from assay.store.facets.media import MAX_MEDIA_PAGE

router = APIRouter(prefix="/api/v1")


@router.get("/runs/{run_id}/media", summary="A run's media keys (kind, count, steps)")
def media_keys(run_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    return reply(request, state.store.media.keys(run_id))


@router.get("/runs/{run_id}/media/values", summary="The rich values logged under one key")
def media_values(
    run_id: str,
    request: Request,
    who: Caller,
    *,
    key: Annotated[str, Query(min_length=1, max_length=256)],
    start: Annotated[int | None, Query()] = None,
    end: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MEDIA_PAGE)] = MAX_MEDIA_PAGE,
) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    check_step_range(start, end)
    return reply(request, state.store.media.list(run_id, key, start, end, limit))
