"""UI pages for label projects: the list, a project's page (progress, agreement,
annotator quality, disagreements; viewer role), and the annotator's queue (one item at
a time, keyboard shortcuts; annotator role, labelling as the signed-in user only)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.errors import AssayError, NotFound
from assay.records import LabelProject
from assay.sdk.labels import report, reroute
from assay.server.deps import AppState, require, state_of
from assay.server.ui import label_views as lv
from assay.server.ui.routes import Viewer, render, templates
from assay.server.ui.session import check_csrf
from assay.store.sql.auth import Principal, role_at_least

router = APIRouter(include_in_schema=False)
templates.env.globals.update(shown=lv.shown, share=lv.share)
IMAGE_TYPES = {
    b"\x89PNG": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}
MAX_IMAGE = 64 << 20  # bytes of the largest image the queue shows


def _project(state: AppState, who: Principal, project_id: str, role: str) -> LabelProject:
    found = state.store.labels.get(project_id)
    require(state, who, found.project, role)
    return found


@router.get("/labels", response_class=HTMLResponse)
def labels_page(request: Request, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    found = [
        p
        for p in state.store.labels.list()
        if role_at_least(state.auth.role(who, p.project), "annotator")
    ]
    can_read = {p.id for p in found if role_at_least(state.auth.role(who, p.project), "viewer")}
    return render(request, "labels.html", projects=found, can_read=can_read, who=who)


@router.get("/labels/{project_id}", response_class=HTMLResponse)
def label_project_page(request: Request, project_id: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    found = _project(state, who, project_id, "viewer")
    shown = report(project_id, store=state.store)
    return render(request, "label_project.html", p=found, r=shown, who=who)


@router.get("/labels/{project_id}/queue", response_class=HTMLResponse)
def queue_page(request: Request, project_id: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    found = _project(state, who, project_id, "annotator")
    task = state.store.labels.claim(project_id, who.user)
    mine = state.store.labels.annotations(project_id, who.user)
    done = sum(1 for a in mine if a.status == "done")
    skipped = sum(1 for a in mine if a.status == "skipped")
    return render(
        request,
        "label_queue.html",
        p=found,
        task=task,
        choices=lv.choices(found.schema),
        image=lv.image_source(project_id, task) if task else None,
        done=done,
        skipped=skipped,
        error=request.query_params.get("error"),
        who=who,
    )


@router.post("/ui/labels/{project_id}/queue", response_model=None)
async def answer(
    request: Request,
    project_id: str,
    who: Viewer,
    *,
    item_id: Annotated[str, Form(max_length=256)],
    action: Annotated[str, Form(max_length=16)] = "submit",
    value: Annotated[list[str] | None, Form()] = None,
    text: Annotated[str, Form(max_length=100_000)] = "",
    comment: Annotated[str, Form(max_length=100_000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A label or a skip, then the next item (or the same one with the reason it was
    refused)."""
    check_csrf(request, csrf)
    state = state_of(request)
    found = _project(state, who, project_id, "annotator")
    note = comment.strip() or None
    try:
        if action == "skip":
            await run_in_threadpool(state.store.labels.skip, project_id, item_id, who.user, note)
        else:
            answer_value = lv.parse_value(found.schema, value or [], text)
            await run_in_threadpool(
                state.store.labels.submit, project_id, item_id, who.user, answer_value, note
            )
            if found.routing == "adaptive":
                await run_in_threadpool(reroute, state.store, project_id)
    except AssayError as exc:
        if isinstance(exc, NotFound):
            raise
        target = f"/labels/{quote(project_id)}/queue?error={quote(str(exc))}"
        return RedirectResponse(target, status_code=303)
    return RedirectResponse(f"/labels/{quote(project_id)}/queue", status_code=303)


@router.get("/labels/{project_id}/items/{item_id}/image")
def item_image(request: Request, project_id: str, item_id: str, who: Viewer) -> Response:
    """The image of an image item: a file of the dataset version the project was made
    from, shown to who has a turn on the item or reads the project."""
    state = state_of(request)
    found = _project(state, who, project_id, "annotator")
    if not role_at_least(state.auth.role(who, found.project), "viewer"):
        mine = {a.item_id for a in state.store.labels.annotations(project_id, who.user)}
        if item_id not in mine:
            raise NotFound(f"no image for item {item_id!r}")
    data = _image_bytes(state, project_id, item_id)
    kind = next((t for magic, t in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise NotFound(f"item {item_id!r} holds no PNG, JPEG, GIF or WebP image")
    return Response(data, media_type=kind, headers={"cache-control": "private, max-age=3600"})


def _image_bytes(state: AppState, project_id: str, item_id: str) -> bytes:
    item = next((i for i in state.store.labels.items(project_id) if i.item_id == item_id), None)
    if item is None or item.kind != "image" or "version" not in item.data:
        raise NotFound(f"no image for item {item_id!r}")
    manifest = state.store.artifacts.manifest(str(item.data["version"]))
    entry = next((f for f in manifest.files if f.path == item.data.get("path")), None)
    if entry is None or entry.ref is not None or entry.size > MAX_IMAGE:
        raise NotFound(f"no image for item {item_id!r}")
    return b"".join(state.store.blobs.get(d) for d in entry.blobs())
