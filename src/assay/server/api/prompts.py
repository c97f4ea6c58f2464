"""``store.prompts`` over HTTP, the server side: prompt labels and their splits. Reads
need the viewer role on the project; moving a label needs writer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from assay import wire
from assay.server.api.common import Caller, decode_body, doc
from assay.server.deps import require, state_of
from assay.server.negotiate import reply

router = APIRouter(prefix="/api/v1")


@router.get("/prompts/{project}", summary="Every label of every prompt of a project")
def project_labels(project: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.prompts.list(project))


@router.get("/prompts/{project}/{prompt}/labels", summary="A prompt's labels now")
def labels(project: str, prompt: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.prompts.labels(project, prompt))


@router.get("/prompts/{project}/{prompt}/labels/{label}", summary="One label of a prompt")
def label(project: str, prompt: str, label: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.prompts.label(project, prompt, label))


@router.put(
    "/prompts/{project}/{prompt}/labels/{label}",
    openapi_extra=doc("split"),
    summary="Point a label at a version or a weighted split (null removes it), with a reason",
)
async def set_label(
    project: str, prompt: str, label: str, request: Request, who: Caller
) -> Response:
    state = state_of(request)
    require(state, who, project, "writer")
    ask = await decode_body(request, wire.SetPromptLabel)
    move = state.store.prompts.set_label(
        project,
        prompt,
        label,
        ask.split,
        reason=ask.reason,
        evidence=ask.evidence,
        actor=f"user:{who.user}",
    )
    return reply(request, move)


@router.get("/prompts/{project}/{prompt}/history", summary="Every move of a prompt's labels")
def history(
    project: str,
    prompt: str,
    request: Request,
    who: Caller,
    label: Annotated[str | None, Query()] = None,
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.prompts.history(project, prompt, label))
