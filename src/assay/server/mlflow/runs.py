"""Runs: create, get, update, search, tags, params, inputs and outputs (MLflow's
``runs/*`` routes). Every write is an Assay batch (``writes.py``)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from assay.errors import InvalidInput
from assay.ids import new_run_id, new_run_name
from assay.query.mlflow import to_assay_filter, to_assay_order
from assay.records import CreateRun, Run, UpdateRun
from assay.server.api.common import visible
from assay.server.deps import AppState, require, require_run, state_of
from assay.server.mlflow import convert
from assay.server.mlflow.experiments import project_named
from assay.server.mlflow.protocol import (
    Ask,
    Caller,
    Fields,
    MlflowError,
    MlflowRoute,
    NotSupported,
    offset_of,
    page_token,
    seconds,
)
from assay.server.mlflow.reading import run_json, runs_json
from assay.server.mlflow.tags import TagChanges, key_values
from assay.server.mlflow.writes import apply, create_in
from assay.store.sql.auth import Principal
from assay.values import dotted

router = APIRouter(route_class=MlflowRoute)
MAX_RESULTS = 50_000
PAGE = 1000  # runs read from the store at once


def run_id_of(ask: Fields) -> str:
    run_id = ask.optional_text("run_id") or ask.optional_text("run_uuid")
    if run_id is None:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'"
        )
    return run_id


def readable_run(state: AppState, who: Principal, run_id: str) -> Run:
    require_run(state, who, run_id, "viewer")
    return state.store.runs.get(run_id)


@router.post("/runs/create")
def create(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    name = convert.project_for_id(str(ask.get("experiment_id", "0")))
    require(state, who, name, "writer")  # before looking: nothing can be probed
    project = project_named(state, name)
    changes = TagChanges.of(key_values(ask.items("tags")))
    user = ask.optional_text("user_id")
    if user is not None:
        changes.host.setdefault(convert.HOST_TAG + "mlflow.user", user)
    name = ask.optional_text("run_name") or changes.name or new_run_name()
    start = seconds(ask.integer("start_time")) or time.time()
    run_id = new_run_id()
    op = CreateRun(
        project=project.name,
        name=name,
        created_at=start,
        config={},
        tags=changes.tags,
        notes=changes.notes,
        group=None,
        job_type=None,
        host=changes.host,
    )
    create_in(state, who, project.name, run_id, [op])
    return {"run": run_json(state, state.store.runs.get(run_id))}


@router.get("/runs/get")
def get(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    return {"run": run_json(state, readable_run(state, who, run_id_of(ask)))}


@router.post("/runs/update")
def update(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    run = readable_run(state, who, run_id)
    new_name = ask.optional_text("run_name")
    if new_name is not None and new_name != run.name:
        raise NotSupported("Assay runs keep the name they were created with")
    status = ask.optional_text("status")
    mapped = None
    if status is not None:
        mapped = convert.FROM_MLFLOW_STATUS.get(status)
        if mapped is None:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{status!r} is not a run status")
        if mapped == "running" and run.status in ("running", "crashed"):
            mapped = None  # already running: resuming is not a second claim
    end = seconds(ask.integer("end_time")) or time.time()
    if mapped is not None:
        apply(state, who, run_id, [UpdateRun(at=end, status=mapped)])
    run = state.store.runs.get(run_id)
    return {"run_info": run_json(state, run)["info"]}


@router.post("/runs/delete")
def delete(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    """Assay's soft delete: hidden from searches, restorable until ``assay gc`` purges it."""
    state = state_of(request)
    run_id = run_id_of(ask)
    require_run(state, who, run_id, "writer")
    state.store.runs.delete(run_id, actor=f"user:{who.user}")
    return {}


@router.post("/runs/restore")
def restore(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    require_run(state, who, run_id, "writer")
    state.store.runs.restore(run_id, actor=f"user:{who.user}")
    return {}


@router.post("/runs/search")
def search(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    ids = [str(i) for i in ask.items("experiment_ids")] or ["0"]
    projects = [convert.project_for_id(i) for i in ids]
    for project in projects:
        if not visible(state, who, project):
            raise MlflowError("PERMISSION_DENIED", f"no viewer role on project {project!r}", 403)
    try:
        filter = to_assay_filter(ask.optional_text("filter"))
        order = to_assay_order([str(o) for o in ask.items("order_by")])
    except InvalidInput as exc:
        raise MlflowError("INVALID_PARAMETER_VALUE", str(exc)) from None
    limit = ask.integer("max_results", 1000) or 1000
    if not 0 < limit <= MAX_RESULTS:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be 1..{MAX_RESULTS}")
    offset = offset_of(ask.optional_text("page_token"))
    view = str(ask.get("run_view_type", "ACTIVE_ONLY"))
    found = (
        []
        if view == "DELETED_ONLY"
        else _search(state, projects, filter, order, offset + limit + 1)
    )
    page = found[offset : offset + limit]
    answer: dict[str, Any] = {"runs": runs_json(state, page)}
    if len(found) > offset + limit:
        answer["next_page_token"] = page_token(offset + limit)
    return answer


def _search(
    state: AppState, projects: list[str], filter: str | None, order: list[str], wanted: int
) -> list[Run]:
    """The first ``wanted`` matching runs of these projects, in ``order``."""
    found: list[Run] = []
    for project in dict.fromkeys(projects):
        offset = 0
        while len(found) < wanted * len(projects):
            chunk = state.store.runs.list(project, filter, order, min(PAGE, wanted), offset)
            found.extend(chunk)
            offset += len(chunk)
            if len(chunk) < min(PAGE, wanted) or offset >= wanted:
                break
    if len(projects) > 1:
        for field in reversed(order):
            name = field.lstrip("-")
            found.sort(key=lambda r: _sort_key(r, name), reverse=field.startswith("-"))
    return found[:wanted]


def _sort_key(run: Run, field: str) -> tuple[int, Any]:
    value: Any
    if field.startswith("metrics."):
        summary = run.metrics.get(field[len("metrics.") : -len(".last")].strip("`"))
        value = None if summary is None else summary.last
    elif field.startswith("config."):
        value = dotted(run.config).get(field[len("config.") :].strip("`"))
    else:
        value = {
            "created": run.created_at,
            "finished": run.finished_at,
            "name": run.name,
            "status": run.status,
            "id": run.id,
        }.get(field)
    return (0, value) if value is not None else (1, 0)


@router.post("/runs/set-tag")
def set_tag(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    run = readable_run(state, who, run_id)
    key, value = ask.text("key"), str(ask.get("value", ""))
    changes = TagChanges.of({key: value}, current=run)
    apply(state, who, run_id, changes.ops(run))
    return {}


@router.post("/runs/delete-tag")
def delete_tag(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    run = readable_run(state, who, run_id)
    key = ask.text("key")
    if key not in convert.tags_of(run):
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {run_id}", 404
        )
    if key in (convert.RUN_NAME, convert.NOTE):
        raise NotSupported(
            f"tag {key} is the run's {'name' if key == convert.RUN_NAME else 'notes'}"
        )
    if convert.HOST_TAG + key in run.host:
        apply(state, who, run_id, [UpdateRun(at=time.time(), host={convert.HOST_TAG + key: None})])
    else:
        kept = [t for t in run.tags if convert.tag_key(t) != key]
        apply(state, who, run_id, [UpdateRun(at=time.time(), tags=kept)])
    return {}


@router.post("/runs/log-parameter")
def log_param(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    run = readable_run(state, who, run_id)
    params = {ask.text("key"): str(ask.get("value", ""))}
    apply(state, who, run_id, [UpdateRun(at=time.time(), config=new_params(run, params))])
    return {}


def new_params(run: Run, params: dict[str, str]) -> dict[str, Any]:
    """The params not logged yet; a different value for a logged one is refused (MLflow's
    params are written once)."""
    current = convert.params_of(run)
    for key, value in params.items():
        if key in current and current[key] != value:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{current[key]}' for run ID='{run.id}'. Attempted "
                f"logging new value '{value}'.",
            )
    return {k: v for k, v in params.items() if k not in current}


@router.post("/runs/log-inputs")
def log_inputs(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    run = readable_run(state, who, run_id)
    known = list(run.host.get("mlflow.inputs") or [])
    for item in ask.items("datasets"):
        if isinstance(item, dict) and item not in known:
            known.append(item)
    apply(state, who, run_id, [UpdateRun(at=time.time(), host={"mlflow.inputs": known})])
    return {}


@router.post("/runs/outputs")
def log_outputs(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = run_id_of(ask)
    run = readable_run(state, who, run_id)
    known = list(run.host.get("mlflow.outputs") or [])
    for item in ask.items("models"):
        if isinstance(item, dict) and item not in known:
            known.append(item)
    apply(state, who, run_id, [UpdateRun(at=time.time(), host={"mlflow.outputs": known})])
    return {}
