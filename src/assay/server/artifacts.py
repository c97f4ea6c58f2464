"""Artifact, lineage and registry routes. Reads need the viewer role on the project an
artifact or model belongs to; writes need writer."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import InvalidInput, NotFound
from assay.records import ArtifactDraft, ArtifactVersion
from assay.server.access import require_usable, visible_blobs, visible_edges
from assay.server.body import read_body
from assay.server.deps import AppState, principal, require, require_run, require_some, state_of
from assay.server.negotiate import body_type, reply
from assay.store.sql.auth import Principal, role_at_least

router = APIRouter(prefix="/api/v1")
Caller = Annotated[Principal, Depends(principal)]
T = TypeVar("T")


def doc(*required: str) -> dict[str, Any]:
    schema = {"type": "object", "required": list(required)}
    body = {"content": {"application/json": {"schema": schema}}, "required": True}
    return {"requestBody": body}


async def decode_body(request: Request, kind: type[T]) -> T:
    state = state_of(request)
    data = await read_body(request, state.config.max_body_bytes)
    try:
        return wire.decode(data, kind, body_type(request))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInput(f"request body does not decode as {kind.__name__}: {exc}") from None


def visible(state: AppState, who: Principal, project: str) -> bool:
    return role_at_least(state.auth.role(who, project), "viewer")


# ---- blobs and versions --------------------------------------------------------------------


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


# ---- registry ------------------------------------------------------------------------------


def _model_project(state: AppState, who: Principal, name: str, role: str) -> None:
    require(state, who, state.store.models.get(name).project, role)


@router.get("/models", summary="Registered models the caller may read")
def models(
    request: Request, who: Caller, project: Annotated[str | None, Query()] = None
) -> Response:
    state = state_of(request)
    found = state.store.models.list(project)
    return reply(request, [m for m in found if visible(state, who, m.project)])


@router.get("/models/{name}", summary="One registered model")
def model(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.get(name))


@router.get("/models/{name}/versions", summary="Versions of a registered model")
def model_versions(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.versions(name))


@router.get("/models/{name}/versions/{selector}", summary="One model version: 3, latest, alias")
def model_version(name: str, selector: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.version(name, selector))


@router.post(
    "/models/{name}/versions",
    openapi_extra=doc("version_id"),
    summary="Register a model artifact version",
)
async def register_model(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    ask = await decode_body(request, wire.RegisterRequest)
    version_for(state, who, ask.version_id, "writer")
    found = state.store.models.register(
        ask.version_id, name, ask.description, ask.tags, f"user:{who.user}"
    )
    return reply(request, found, 201 if found.created else 200)


@router.put(
    "/models/{name}/aliases/{alias}",
    openapi_extra=doc("version"),
    summary="Move (or remove) a model alias, with a reason and evidence",
)
async def set_model_alias(name: str, alias: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "writer")
    ask = await decode_body(request, wire.MoveAlias)
    move = state.store.models.set_alias(
        name, alias, ask.version, ask.reason, ask.evidence, f"user:{who.user}"
    )
    return reply(request, move)


@router.get("/models/{name}/aliases", summary="The history of a model's alias moves")
def alias_history(
    name: str, request: Request, who: Caller, alias: Annotated[str | None, Query()] = None
) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.alias_history(name, alias))
