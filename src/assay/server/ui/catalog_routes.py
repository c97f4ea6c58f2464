"""UI pages for artifacts (versions, files, previews), lineage graphs and the model
registry. Every page checks the viewer role on the project it shows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from assay.artifacts.lineage import lineage
from assay.errors import InvalidInput, NotFound
from assay.records import FileEntry
from assay.server.access import visible_edges
from assay.server.api.artifacts import version_for
from assay.server.deps import AppState, require, require_run, state_of
from assay.server.ui import catalog_views as cv
from assay.server.ui import display
from assay.server.ui.eval_views import of_version
from assay.server.ui.routes import Viewer, render, templates
from assay.store.sql.auth import role_at_least

router = APIRouter(include_in_schema=False)
templates.env.globals.update(fmt_bytes=display.fmt_bytes)


@router.get("/projects/{project}/artifacts", response_class=HTMLResponse)
def artifacts_page(request: Request, project: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    found = state.store.artifacts.list(project)
    models = state.store.models.list(project)
    return render(
        request, "artifacts.html", project=project, artifacts=found, models=models, who=who
    )


@router.get("/projects/{project}/artifacts/{name}", response_class=HTMLResponse)
def artifact_page(
    request: Request, project: str, name: str, who: Viewer, v: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    versions = state.store.artifacts.versions(project, name)
    chosen = state.store.artifacts.version(project, name, v or "latest")
    manifest = state.store.artifacts.manifest(chosen.id)
    edges = visible_edges(state, who, state.store.artifacts.lineage_edges([], [chosen.id]))
    used_by = [e.run_id for e in edges if e.kind == "used"]
    producers = [e.run_id for e in edges if e.kind == "produced"]
    runs = {r: state.store.runs.get(r) for r in dict.fromkeys(used_by + producers)}
    registered = [
        mv
        for m in state.store.models.list(project)
        for mv in state.store.models.versions(m.name)
        if mv.artifact.id == chosen.id
    ]
    can_write = role_at_least(state.auth.role(who, project), "writer")
    evaluations = [
        e
        for e in of_version(state.store, chosen.id)
        if role_at_least(state.auth.role(who, e.project), "viewer")
    ]
    return render(
        request,
        "artifact.html",
        project=project,
        aname=name,
        versions=versions,
        v=chosen,
        files=manifest.files,
        used_by=[runs[r] for r in used_by],
        producers=[runs[r] for r in producers],
        registered=registered,
        evaluations=evaluations,
        can_write=can_write,
        who=who,
    )


def _entry(state: AppState, version_id: str, path: str) -> FileEntry:
    for entry in state.store.artifacts.manifest(version_id).files:
        if entry.path == path:
            return entry
    raise NotFound(f"artifact version {version_id} has no file {path!r}")


def _stream(state: AppState, entry: FileEntry, limit: int | None = None) -> Iterator[bytes]:
    sent = 0
    for digest, _ in entry.chunks or [(entry.digest, entry.size)]:
        data = state.store.blobs.get(digest)
        yield data if limit is None else data[: max(0, limit - sent)]
        sent += len(data)
        if limit is not None and sent >= limit:
            return


@router.get("/ui/artifact-versions/{version_id}/preview", response_class=HTMLResponse)
def file_preview(
    request: Request, version_id: str, who: Viewer, path: Annotated[str, Query(max_length=1024)]
) -> HTMLResponse:
    state = state_of(request)
    version = version_for(state, who, version_id, "viewer")
    entry = _entry(state, version_id, path)
    if entry.ref is not None:
        shown = cv.Preview("none", note=f"recorded by reference: {entry.ref}")
    else:
        data = b"".join(_stream(state, entry, cv.PREVIEW_BYTES))
        shown = cv.preview(path, data, entry.size > cv.PREVIEW_BYTES)
    return render(request, "file_preview.html", v=version, entry=entry, p=shown)


@router.get("/artifact-versions/{version_id}/raw")
def file_raw(
    request: Request, version_id: str, who: Viewer, path: Annotated[str, Query(max_length=1024)]
) -> Response:
    state = state_of(request)
    version_for(state, who, version_id, "viewer")
    entry = _entry(state, version_id, path)
    if entry.ref is not None:
        raise InvalidInput(f"{path} is recorded by reference ({entry.ref}); fetch it from there")
    suffix = path[path.rfind(".") :].lower() if "." in path else ""
    media = cv.IMAGE_TYPES.get(suffix, "application/octet-stream")
    name = path.rsplit("/", 1)[-1]
    headers = {"content-length": str(entry.size), "x-content-type-options": "nosniff"}
    if media == "application/octet-stream" or suffix == ".svg":
        headers["content-disposition"] = attachment(name)
    return StreamingResponse(_stream(state, entry), media_type=media, headers=headers)


def attachment(name: str) -> str:
    """A Content-Disposition for any file name (RFC 6266): an ASCII stand-in, and the
    real name percent-encoded as UTF-8 in ``filename*`` (RFC 5987)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/lineage", response_class=HTMLResponse)
def lineage_page(
    request: Request,
    who: Viewer,
    node: Annotated[str, Query(max_length=64)],
    direction: Annotated[str, Query(pattern="^(up|down|both)$")] = "both",
    depth: Annotated[int, Query(ge=1, le=10)] = 3,
) -> HTMLResponse:
    state = state_of(request)
    kind, _, ident = node.partition(":")
    if kind == "run":
        require_run(state, who, ident, "viewer")
        start: object = state.store.runs.get(ident)
    elif kind == "artifact":
        start = version_for(state, who, ident, "viewer")
    else:
        raise InvalidInput(f"node {node!r} must be run:<id> or artifact:<version id>")
    graph = lineage(state.store, start, direction, depth)  # type: ignore[arg-type]
    for n in list(graph.nodes.values()):  # nodes of projects the viewer cannot see stay hidden
        project = n.run.project if n.run else n.artifact.project if n.artifact else ""
        if not role_at_least(state.auth.role(who, project), "viewer"):
            del graph.nodes[n.id]
    drawing = cv.layout(graph)
    return render(
        request,
        "lineage.html",
        graph=graph,
        d=drawing,
        node=node,
        direction=direction,
        depth=depth,
        W=cv.NODE_W,
        H=cv.NODE_H,
        who=who,
    )


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    found = [
        m
        for m in state.store.models.list()
        if role_at_least(state.auth.role(who, m.project), "viewer")
    ]
    return render(request, "models.html", models=found, who=who)


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    model = state.store.models.get(name)
    require(state, who, model.project, "viewer")
    policy = state.store.models.traffic(name)
    now = time.time()
    logged = state.store.requests.list(
        name, since=now - cv.STATS_HOURS * 3600, limit=cv.STATS_LIMIT
    )
    return render(
        request,
        "model.html",
        model=model,
        versions=state.store.models.versions(name),
        history=state.store.models.alias_history(name),
        policy=policy,
        arms=cv.traffic_arms(policy, model.aliases),
        traffic_history=state.store.models.traffic_history(name),
        servers=state.store.models.servers(name),
        shares=cv.shares,
        served=cv.serving_stats(logged, now),
        served_capped=len(logged) >= cv.STATS_LIMIT,
        stats_hours=cv.STATS_HOURS,
        stats_limit=cv.STATS_LIMIT,
        who=who,
    )
