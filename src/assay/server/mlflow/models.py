"""MLflow 3's logged models (``/logged-models``), kept on their source run: the record in
the run's ``host`` under ``mlflow.model:<model id>``, the files in the run's artifact
tree under the model's name (``runs:/<run id>/<name>`` reads them, as in MLflow 2). A
model id is ``m-<run id><random hex>``, so the run is found from the id."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request

from assay.records import Run, UpdateRun
from assay.server.api.common import visible
from assay.server.deps import AppState, require_run, state_of
from assay.server.mlflow import convert
from assay.server.mlflow.experiments import project_named
from assay.server.mlflow.protocol import (
    Ask,
    Caller,
    MlflowError,
    MlflowRoute,
    NotSupported,
    millis,
)
from assay.server.mlflow.tags import key_values
from assay.server.mlflow.writes import apply
from assay.store.sql.auth import Principal
from assay.values import check_name

router = APIRouter(route_class=MlflowRoute)
PREFIX = "mlflow.model:"
RUN_ID_LENGTH = 16


def _not_found(model_id: str) -> MlflowError:
    return MlflowError(
        "RESOURCE_DOES_NOT_EXIST", f"Logged model with ID '{model_id}' not found.", 404
    )


def find(state: AppState, who: Principal, model_id: str, role: str) -> tuple[Run, dict[str, Any]]:
    run_id = model_id[2 : 2 + RUN_ID_LENGTH] if model_id.startswith("m-") else ""
    if not run_id:
        raise _not_found(model_id)
    require_run(state, who, run_id, role)
    run = state.store.runs.get(run_id)
    record = run.host.get(PREFIX + model_id)
    if not isinstance(record, dict):
        raise _not_found(model_id)
    return run, record


def model_json(record: dict[str, Any]) -> dict[str, Any]:
    info = {k: v for k, v in record.items() if k not in ("params", "metrics")}
    info["tags"] = [{"key": k, "value": v} for k, v in sorted(record.get("tags", {}).items())]
    params = [{"key": k, "value": v} for k, v in sorted(record.get("params", {}).items())]
    return {"info": info, "data": {"params": params, "metrics": []}}


def _save(state: AppState, who: Principal, run: Run, record: dict[str, Any]) -> None:
    record["last_updated_timestamp_ms"] = millis(time.time())
    apply(
        state, who, run.id, [UpdateRun(at=time.time(), host={PREFIX + record["model_id"]: record})]
    )


@router.post("/logged-models")
def create(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run_id = ask.optional_text("source_run_id")
    if run_id is None:
        raise NotSupported("Assay keeps a logged model on its run: log models inside a run")
    project = require_run(state, who, run_id, "writer")
    experiment = str(ask.get("experiment_id") or convert.experiment_id(project))
    if project_named(state, convert.project_for_id(experiment)).name != project:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"run {run_id} is not in experiment {experiment}"
        )
    name = check_name("model name", ask.optional_text("name") or "model")
    model_id = f"m-{run_id}{secrets.token_hex(8)}"
    now = millis(time.time())
    record: dict[str, Any] = {
        "model_id": model_id,
        "experiment_id": convert.experiment_id(project),
        "name": name,
        "artifact_uri": f"{convert.run_artifact_uri(project, run_id)}/{name}",
        "creation_timestamp_ms": now,
        "status": "LOGGED_MODEL_PENDING",
        "model_type": ask.optional_text("model_type") or "",
        "source_run_id": run_id,
        "tags": key_values(ask.items("tags")),
        "params": key_values(ask.items("params")),
    }
    run = state.store.runs.get(run_id)
    _save(state, who, run, record)
    return {"model": model_json(record)}


@router.get("/logged-models/{model_id}")
def get(model_id: str, request: Request, who: Caller) -> dict[str, Any]:
    _, record = find(state_of(request), who, model_id, "viewer")
    return {"model": model_json(record)}


@router.patch("/logged-models/{model_id}")
def finalize(model_id: str, request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run, record = find(state, who, model_id, "writer")
    record["status"] = ask.text("status")
    _save(state, who, run, record)
    return {"model": model_json(record)}


@router.patch("/logged-models/{model_id}/tags")
def set_tags(model_id: str, request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run, record = find(state, who, model_id, "writer")
    record["tags"] = {**record.get("tags", {}), **key_values(ask.items("tags"))}
    _save(state, who, run, record)
    return {}


@router.delete("/logged-models/{model_id}/tags/{key}")
def delete_tag(model_id: str, key: str, request: Request, who: Caller) -> dict[str, Any]:
    state = state_of(request)
    run, record = find(state, who, model_id, "writer")
    record["tags"] = {k: v for k, v in record.get("tags", {}).items() if k != key}
    _save(state, who, run, record)
    return {}


@router.post("/logged-models/{model_id}/params")
def log_params(model_id: str, request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    run, record = find(state, who, model_id, "writer")
    record["params"] = {**record.get("params", {}), **key_values(ask.items("params"))}
    _save(state, who, run, record)
    return {}


@router.delete("/logged-models/{model_id}")
def delete(model_id: str, request: Request, who: Caller) -> dict[str, Any]:
    raise NotSupported("Assay keeps logged models with their run")


@router.post("/logged-models/search")
def search(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    """The logged models of the experiments' newest 1000 runs; filter by ``name = '...'``."""
    state = state_of(request)
    text = (ask.optional_text("filter") or "").strip()
    wanted: str | None = None
    if text:
        head, _, value = text.partition("=")
        if head.strip() != "name" or len(value.strip()) < 2 or value.strip()[0] not in "'\"":
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", "logged models are filtered by name = '...' only"
            )
        wanted = value.strip()[1:-1]
    found = []
    for experiment in [str(e) for e in ask.items("experiment_ids")] or ["0"]:
        project = convert.project_for_id(experiment)
        if not visible(state, who, project):
            continue
        for run in state.store.runs.list(project, None, ("-created",), 1000, 0):
            for key, record in run.host.items():
                named = isinstance(record, dict) and wanted in (None, record.get("name"))
                if key.startswith(PREFIX) and named:
                    found.append(model_json(record))
    return {"models": found}


@router.post("/runs/log-model")
def log_model(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    """MLflow 2's record of a logged model: kept as the run's mlflow.log-model.history."""
    state = state_of(request)
    run_id = ask.text("run_id")
    require_run(state, who, run_id, "writer")
    run = state.store.runs.get(run_id)
    key = convert.HOST_TAG + "mlflow.log-model.history"
    history = json.loads(str(run.host.get(key) or "[]"))
    model = ask.get("model_json")
    history.append(json.loads(model) if isinstance(model, str) else model)
    apply(state, who, run_id, [UpdateRun(at=time.time(), host={key: json.dumps(history)})])
    return {}
