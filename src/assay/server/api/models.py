"""``store.models`` over HTTP, the server side: the model registry. Reads need the viewer
role on the model's project; writes need writer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from assay import wire
from assay.errors import InvalidInput
from assay.records import ModelServer
from assay.server.api.artifacts import version_for
from assay.server.api.common import Caller, decode_body, doc, visible
from assay.server.deps import AppState, require, require_some, state_of
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal

router = APIRouter(prefix="/api/v1")


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
        name, alias, ask.version, reason=ask.reason, evidence=ask.evidence, actor=f"user:{who.user}"
    )
    return reply(request, move)


@router.get("/models/{name}/aliases", summary="The history of a model's alias moves")
def alias_history(
    name: str, request: Request, who: Caller, alias: Annotated[str | None, Query()] = None
) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.alias_history(name, alias))


@router.put(
    "/models/{name}/traffic",
    openapi_extra=doc("split"),
    summary="Set (or clear, with a null split) how served requests are shared between versions",
)
async def set_traffic(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "writer")
    ask = await decode_body(request, wire.SetTraffic)
    policy = state.store.models.set_traffic(
        name,
        ask.split,
        sticky=ask.sticky,
        shadow=ask.shadow,
        reason=ask.reason,
        actor=f"user:{who.user}",
    )
    return reply(request, policy)


@router.get("/models/{name}/traffic", summary="A model's traffic policy (null: none)")
def traffic(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.traffic(name))


@router.get("/models/{name}/traffic/history", summary="Every change of a model's traffic policy")
def traffic_history(name: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    _model_project(state, who, name, "viewer")
    return reply(request, state.store.models.traffic_history(name))


@router.put(
    "/model-servers/{server_id}",
    openapi_extra=doc("url"),
    summary="Announce (or refresh) a running model server; writer on every model it serves",
)
async def announce_server(server_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    server = await decode_body(request, ModelServer)
    if server.id != server_id:
        raise InvalidInput(f"the body announces server {server.id!r}, not {server_id!r}")
    for each in server.models:
        _model_project(state, who, each.name, "writer")
    return reply(request, state.store.models.announce(server, actor=f"user:{who.user}"))


@router.delete(
    "/model-servers/{server_id}",
    status_code=204,
    summary="Withdraw a model server's announcement (it stopped)",
)
def withdraw_server(server_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    for server in state.store.models.servers():
        if server.id == server_id:
            for each in server.models:
                _model_project(state, who, each.name, "writer")
    state.store.models.withdraw(server_id, actor=f"user:{who.user}")
    return Response(status_code=204)


@router.get("/model-servers", summary="Announced model servers the caller may read")
def model_servers(
    request: Request, who: Caller, model: Annotated[str | None, Query()] = None
) -> Response:
    state = state_of(request)
    if model is not None:
        _model_project(state, who, model, "viewer")
        return reply(request, state.store.models.servers(model))
    projects = {m.name: m.project for m in state.store.models.list()}
    found = [
        s
        for s in state.store.models.servers()
        if all(visible(state, who, projects.get(m.name, "")) for m in s.models)
    ]
    return reply(request, found)
