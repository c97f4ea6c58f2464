"""``store.artifacts`` over HTTP, the server side: versions, manifests, aliases, lineage.
Reads need the viewer role on the artifact's project; writes need writer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import NotFound
from assay.records import (
    ArtifactDraft,
    ArtifactVersion,
)
from assay.server.access import (
    require_usable,
    visible_edges,
)
from assay.server.api.common import Caller, decode_body, doc, visible
from assay.server.deps import AppState, require, require_run, require_some, state_of
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")


@router.post(
    "/artifacts",
    openapi_extra=doc("project", "name", "type", "manifest"),
    summary="Commit an artifact version whose blobs are all stored",
)
async def commit_artifact(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    draft = await decode_body(request, ArtifactDraft)
    require(state, who, draft.project, "writer")
    require_usable(state, who, draft.manifest.blobs())
    version = await run_in_threadpool(state.store.artifacts.commit, draft, f"user:{who.user}")
    return reply(request, version, 201 if version.created else 200)


@router.get("/projects/{project}/artifacts", summary="Artifacts of a project")
def artifacts(
    project: str, request: Request, who: Caller, type: Annotated[str | None, Query()] = None
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.artifacts.list(project, type))


@router.get("/projects/{project}/artifacts/{name}/versions", summary="Versions of an artifact")
def artifact_versions(project: str, name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.artifacts.versions(project, name))


@router.get(
    "/projects/{project}/artifacts/{name}/versions/{selector}",
    summary="One version: v3, latest or an alias",
)
def artifact_version(
    project: str, name: str, selector: str, request: Request, who: Caller
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.artifacts.version(project, name, selector))


@router.post("/artifact-versions", openapi_extra=doc("ids"), summary="Versions by id")
async def versions_by_id(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "viewer")
    ask = await decode_body(request, wire.Ids)
    found = state.store.artifacts.versions_by_id(ask.ids[:1000])
    return reply(request, [v for v in found if visible(state, who, v.project)])


def version_for(state: AppState, who: Principal, version_id: str, role: str) -> ArtifactVersion:
    found = state.store.artifacts.versions_by_id([version_id])
    if not found:
        raise NotFound(f"artifact version {version_id} does not exist")
    require(state, who, found[0].project, role)
    return found[0]


@router.get("/artifact-versions/{version_id}/manifest", summary="A version's files")
def manifest(version_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    version_for(state, who, version_id, "viewer")
    return reply(request, state.store.artifacts.manifest(version_id))


@router.put(
    "/projects/{project}/artifacts/{name}/aliases/{alias}",
    openapi_extra=doc("version"),
    summary="Move (or, with version null, remove) an artifact alias",
)
async def set_artifact_alias(
    project: str, name: str, alias: str, request: Request, who: Caller
) -> Response:
    state = state_of(request)
    require(state, who, project, "writer")
    ask = await decode_body(request, wire.SetAlias)
    state.store.artifacts.set_alias(project, name, alias, ask.version, f"user:{who.user}")
    return Response(status_code=204)


# ---- lineage -------------------------------------------------------------------------------


@router.post("/runs/{run_id}/uses", openapi_extra=doc("version_id"), summary="Record a use")
async def record_use(run_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_run(state, who, run_id, "writer")
    ask = await decode_body(request, wire.UseRequest)
    version_for(state, who, ask.version_id, "viewer")
    state.store.artifacts.record_use(run_id, ask.version_id)
    return Response(status_code=204)


@router.post("/lineage", openapi_extra=doc(), summary="Edges touching runs or versions")
async def lineage_edges(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "viewer")
    ask = await decode_body(request, wire.LineageRequest)
    edges = state.store.artifacts.lineage_edges(ask.run_ids[:10_000], ask.version_ids[:10_000])
    return reply(request, visible_edges(state, who, edges))
