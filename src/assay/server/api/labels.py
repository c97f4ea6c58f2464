"""Label project routes. Creating a project, adding items, importing labels and routing
need the writer role on its Assay project; reading items (with their gold answers) and
everyone's labels needs viewer; taking, labelling and skipping items needs annotator,
the least role: an annotator acts as themself only and reads nothing else. Feedback on
model outputs: writer to give, viewer to read."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import Forbidden, InvalidInput
from assay.records import FeedbackDraft, LabelProject, LabelProjectDraft
from assay.sdk.labels import reroute
from assay.server.api.artifacts import version_for
from assay.server.api.common import Caller, decode_body, doc
from assay.server.deps import AppState, require, require_some, state_of
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal, role_at_least

router = APIRouter(prefix="/api/v1")


def _project(state: AppState, who: Principal, project_id: str, role: str) -> LabelProject:
    found = state.store.labels.get(project_id)
    require(state, who, found.project, role)
    return found


def _annotator(who: Principal, asked: str | None) -> str:
    """Who labels: the caller; an admin may act for another annotator."""
    if asked is None or asked == who.user:
        return who.user
    if not who.is_admin:
        raise Forbidden(f"user {who.user!r} may label as themself only, not as {asked!r}")
    return asked


@router.post(
    "/labels",
    openapi_extra=doc("project", "name", "schema", "items"),
    summary="Create a label project",
)
async def create(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    draft = await decode_body(request, LabelProjectDraft)
    require(state, who, draft.project, "writer")
    if draft.source_version_id is not None:
        version_for(state, who, draft.source_version_id, "viewer")
    made = await run_in_threadpool(state.store.labels.create, draft, f"user:{who.user}")
    return reply(request, made, 201)


@router.get("/labels", summary="Label projects the caller may work in, newest first")
def listing(
    request: Request, who: Caller, *, project: Annotated[str | None, Query()] = None
) -> Response:
    state = state_of(request)
    found = state.store.labels.list(project)
    mine = [p for p in found if role_at_least(state.auth.role(who, p.project), "annotator")]
    return reply(request, mine)


@router.get("/labels/by-name/{project}/{name}", summary="A label project by its name")
def by_name(project: str, name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, project, "annotator")
    return reply(request, state.store.labels.find(project, name))


@router.get("/labels/{project_id}", summary="One label project")
def one(project_id: str, request: Request, who: Caller) -> Response:
    return reply(request, _project(state_of(request), who, project_id, "annotator"))


@router.post("/labels/{project_id}/items", openapi_extra=doc("items"), summary="Add items")
async def add_items(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _project(state, who, project_id, "writer")
    body = await decode_body(request, wire.LabelItems)
    added = await run_in_threadpool(
        state.store.labels.add_items, project_id, body.items, f"user:{who.user}"
    )
    return reply(request, added, 201)


@router.get("/labels/{project_id}/items", summary="Items, with gold answers and slots")
def items(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _project(state, who, project_id, "viewer")
    return reply(request, state.store.labels.items(project_id))


@router.post("/labels/{project_id}/claim", summary="The caller's next item to label")
async def claim(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _project(state, who, project_id, "annotator")
    turn = await decode_body(request, wire.LabelTurn)
    annotator = _annotator(who, turn.annotator)
    task = await run_in_threadpool(state.store.labels.claim, project_id, annotator)
    return reply(request, wire.Claimed(task))


def _item(turn: wire.LabelTurn) -> str:
    if turn.item_id is None:
        raise InvalidInput("name the item (item_id)")
    return turn.item_id


@router.post("/labels/{project_id}/submit", summary="Label a claimed item")
async def submit(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    found = _project(state, who, project_id, "annotator")
    turn = await decode_body(request, wire.LabelTurn)
    annotator = _annotator(who, turn.annotator)
    done = await run_in_threadpool(
        state.store.labels.submit, project_id, _item(turn), annotator, turn.value, turn.comment
    )
    if found.routing == "adaptive":
        await run_in_threadpool(reroute, state.store, project_id)
    return reply(request, done)


@router.post("/labels/{project_id}/skip", summary="Pass on a claimed item")
async def skip(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _project(state, who, project_id, "annotator")
    turn = await decode_body(request, wire.LabelTurn)
    annotator = _annotator(who, turn.annotator)
    done = await run_in_threadpool(
        state.store.labels.skip, project_id, _item(turn), annotator, turn.comment
    )
    return reply(request, done)


@router.get("/labels/{project_id}/annotations", summary="Labels and turns (one's own: annotator)")
def turns(
    project_id: str,
    request: Request,
    who: Caller,
    *,
    annotator: Annotated[str | None, Query()] = None,
) -> Response:
    state = state_of(request)
    own = annotator is not None and annotator == who.user
    _project(state, who, project_id, "annotator" if own else "viewer")
    return reply(request, state.store.labels.annotations(project_id, annotator))


@router.post("/labels/{project_id}/import", openapi_extra=doc("labels"), summary="Import labels")
async def load(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _project(state, who, project_id, "writer")
    body = await decode_body(request, wire.LabelLoad)
    count = await run_in_threadpool(
        state.store.labels.load, project_id, body.labels, f"user:{who.user}"
    )
    return reply(request, count, 201)


@router.post("/labels/{project_id}/route", openapi_extra=doc("needed"), summary="Route items")
async def route(project_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _project(state, who, project_id, "writer")
    body = await decode_body(request, wire.LabelRoute)
    await run_in_threadpool(
        partial(state.store.labels.route, kind_quality=body.kind_quality),
        project_id,
        body.needed,
        body.min_quality,
        body.quality,
    )
    return reply(request, {"routed": len(body.needed)})


@router.post(
    "/feedback",
    openapi_extra=doc("project", "kind", "value"),
    summary="Feedback on a served prediction or an evaluation item",
)
async def add_feedback(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    draft = await decode_body(request, FeedbackDraft)
    require(state, who, draft.project, "writer")
    saved = await run_in_threadpool(state.store.labels.add_feedback, draft, f"user:{who.user}")
    return reply(request, saved, 201)


@router.get("/feedback", summary="Feedback the caller may read, newest first")
def feedback(
    request: Request,
    who: Caller,
    *,
    project: Annotated[str | None, Query()] = None,
    request_id: Annotated[str | None, Query()] = None,
    evaluation_id: Annotated[str | None, Query()] = None,
    model: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    state = state_of(request)
    found: list[Any] = state.store.labels.feedback(
        project, request_id, evaluation_id, limit, model=model
    )
    seen = [f for f in found if role_at_least(state.auth.role(who, f.project), "viewer")]
    return reply(request, seen)
