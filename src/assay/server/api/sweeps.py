"""``store.sweeps`` over HTTP, the server side: reads need the viewer role on the sweep's
project; creating a sweep and claiming or finishing its trials need writer."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assay.records import SweepDraft, TrialClaim, TrialResult
from assay.server.api.common import Caller, decode_body, doc
from assay.server.deps import AppState, require, require_some, state_of
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")


def _sweep_project(state: AppState, who: Principal, sweep_id: str, role: str) -> None:
    require(state, who, state.store.sweeps.project_of(sweep_id), role)


@router.post(
    "/sweeps", openapi_extra=doc("project", "name", "method", "spec"), summary="Create a sweep"
)
async def create_sweep(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    draft = await decode_body(request, SweepDraft)
    require(state, who, draft.project, "writer")
    return reply(request, state.store.sweeps.create(draft, actor=f"user:{who.user}"), 201)


@router.get("/sweeps/{sweep_id}", summary="One sweep")
def sweep(sweep_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _sweep_project(state, who, sweep_id, "viewer")
    return reply(request, state.store.sweeps.get(sweep_id))


@router.get("/projects/{project}/sweeps", summary="The project's sweeps, newest first")
def sweeps(project: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.sweeps.list(project))


@router.get("/sweeps/{sweep_id}/trials", summary="Every trial of a sweep")
def trials(sweep_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _sweep_project(state, who, sweep_id, "viewer")
    return reply(request, state.store.sweeps.trials(sweep_id))


@router.post(
    "/sweeps/{sweep_id}/trials",
    openapi_extra=doc("number", "params", "run_id", "worker"),
    summary="Claim the next trial (409 if another agent claimed that number)",
)
async def claim(sweep_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _sweep_project(state, who, sweep_id, "writer")
    ask = await decode_body(request, TrialClaim)
    return reply(request, state.store.sweeps.claim(sweep_id, ask, actor=f"user:{who.user}"), 201)


@router.put(
    "/sweeps/{sweep_id}/trials/{number}",
    openapi_extra=doc("state"),
    summary="Record a trial's end and value",
)
async def finish(sweep_id: str, number: int, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _sweep_project(state, who, sweep_id, "writer")
    ask = await decode_body(request, TrialResult)
    found = state.store.sweeps.finish(sweep_id, number, ask, actor=f"user:{who.user}")
    return reply(request, found)
