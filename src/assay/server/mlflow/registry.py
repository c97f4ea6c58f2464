"""The model registry (``registered-models/*``, ``model-versions/*``) on Assay's.

Registering ``source`` (``runs:/<run>/<path>``, ``models:/<logged model id>`` or the
``mlflow-artifacts:`` URI of a run's folder) commits the folder's files as a version of
the Assay artifact named after the registered model (type ``model``, produced by the
run; the bytes are not copied), then registers that version. A registered model exists
in Assay from its first version; aliases are Assay's aliases (moves are audited)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from assay.errors import NotFound
from assay.records import ArtifactDraft, Manifest, ModelVersion, RegisteredModel
from assay.server.api.common import visible
from assay.server.deps import AppState, require, require_run, require_some, state_of
from assay.server.mlflow import files, models
from assay.server.mlflow.experiments import _compare
from assay.server.mlflow.protocol import (
    Ask,
    Caller,
    Fields,
    MlflowError,
    MlflowRoute,
    NotSupported,
    actor,
    millis,
)
from assay.server.mlflow.tags import key_values
from assay.store.sql.auth import Principal

router = APIRouter(route_class=MlflowRoute)


def _model(state: AppState, who: Principal, name: str, role: str) -> RegisteredModel:
    try:
        model = state.store.models.get(name)
    except NotFound:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found", 404
        ) from None
    require(state, who, model.project, role)
    return model


def version_json(version: ModelVersion) -> dict[str, Any]:
    meta = version.artifact.metadata
    found = {
        "name": version.model,
        "version": str(version.version),
        "creation_timestamp": millis(version.created_at),
        "last_updated_timestamp": millis(version.created_at),
        "user_id": version.created_by,
        "current_stage": "None",
        "description": version.description or "",
        "source": str(meta.get("mlflow_source", "")),
        "run_id": version.artifact.run_id or "",
        "status": "READY",
        "tags": [],
        "aliases": sorted(version.aliases),
    }
    if meta.get("mlflow_model_id"):
        found["model_id"] = meta["mlflow_model_id"]
    return found


def model_json(state: AppState, model: RegisteredModel) -> dict[str, Any]:
    latest = state.store.models.version(model.name, str(model.latest))
    return {
        "name": model.name,
        "creation_timestamp": millis(model.created_at),
        "last_updated_timestamp": millis(model.updated_at),
        "description": model.description or "",
        "latest_versions": [version_json(latest)],
        "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }


@router.post("/registered-models/create")
def create_model(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    name = ask.text("name")
    try:
        model = state.store.models.get(name)
    except NotFound:
        require_some(state, who, "writer")
        now = millis(time.time())
        return {
            "registered_model": {
                "name": name,
                "creation_timestamp": now,
                "last_updated_timestamp": now,
            }
        }
    require(state, who, model.project, "viewer")
    raise MlflowError(
        "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.", 400
    )


@router.get("/registered-models/get")
def get_model(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    return {"registered_model": model_json(state, _model(state, who, ask.text("name"), "viewer"))}


@router.get("/registered-models/search")
def search_models(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    found = [m for m in state.store.models.list() if visible(state, who, m.project)]
    keep = name_filter(ask.optional_text("filter"))
    found = [m for m in found if keep(m.name)]
    limit = ask.integer("max_results", 100) or 100
    return {"registered_models": [model_json(state, m) for m in found[:limit]]}


_PROMPT_CLAUSE = re.compile(
    r"(?:\bAND\s+)?tags?\.`?mlflow\.prompt\.is_prompt`?\s*(!=|=)\s*(['\"])true\2", re.IGNORECASE
)


def name_filter(text: str | None) -> Callable[[str], bool]:
    """Which registered model names a search's filter keeps. MLflow 3's client adds
    ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search (its registry holds
    prompts too); Assay's registry holds no prompts, so that clause keeps every model and
    its ``= 'true'`` form none."""
    text = text or ""
    prompt = _PROMPT_CLAUSE.search(text)
    if prompt is not None:
        if prompt[1] == "=":
            return lambda _name: False
        rest = text[: prompt.start()] + text[prompt.end() :]
        text = re.sub(r"^\s*AND\s+", "", rest, flags=re.IGNORECASE).strip()
    if not text:
        return lambda _name: True
    match = re.fullmatch(
        r"\s*name\s*(=|!=|LIKE|ILIKE)\s*(['\"])((?:(?!\2).)*)\2\s*", text, re.IGNORECASE | re.DOTALL
    )
    if match is None:
        raise MlflowError("INVALID_PARAMETER_VALUE", "registered models are filtered by name only")
    op, value = match[1].upper(), match[3]
    return lambda name: _compare(name, op, value)


@router.post("/registered-models/get-latest-versions")
def latest_versions(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    model = _model(state, who, ask.text("name"), "viewer")
    return {"model_versions": [version_json(state.store.models.version(model.name, "latest"))]}


@router.post("/model-versions/create")
def create_version(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    name, source = ask.text("name"), ask.text("source")
    project, run_id, path, model_id = _source(state, who, source, ask)
    tree = files.files_of(state, files.latest(state, project, run_id))
    found = files.subtree(tree, path)
    if not found:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"no files at {source!r} to register")
    meta = {"mlflow_source": source, "mlflow_run_id": run_id}
    if model_id:
        meta["mlflow_model_id"] = model_id
    draft = ArtifactDraft(
        project=project,
        name=name,
        type="model",
        manifest=Manifest(files=found),
        metadata=meta,
        run_id=run_id,
        description=ask.optional_text("description"),
    )
    artifact = state.store.artifacts.commit(draft, actor=actor(who))
    tags = key_values(ask.items("tags")) or None
    version = state.store.models.register(
        artifact.id, name, ask.optional_text("description"), tags, actor(who)
    )
    return {"model_version": version_json(version)}


def _source(
    state: AppState, who: Principal, source: str, ask: Fields
) -> tuple[str, str, str, str | None]:
    """(project, run id, folder in the run's tree, logged model id) of a source URI."""
    model_id = ask.optional_text("model_id")
    if source.startswith("models:/m-"):
        model_id = source[len("models:/") :].strip("/")
        run, record = models.find(state, who, model_id, "writer")
        return run.project, run.id, str(record["name"]), model_id
    if source.startswith("runs:/"):
        run_id, _, path = source[len("runs:/") :].partition("/")
        return require_run(state, who, run_id, "writer"), run_id, path.strip("/"), model_id
    if source.startswith("mlflow-artifacts:"):
        tree = files.parse(re.sub(r"^mlflow-artifacts:(//[^/]*)?", "", source))
        if (
            tree.run_id is not None
            and require_run(state, who, tree.run_id, "writer") == tree.project
        ):
            return tree.project, tree.run_id, tree.path, model_id
    raise MlflowError(
        "INVALID_PARAMETER_VALUE",
        f"source {source!r}: Assay registers runs:/<run>/<path>, models:/<logged model id> "
        "or a run's mlflow-artifacts: folder",
    )


def _version(state: AppState, who: Principal, name: str, selector: str) -> ModelVersion:
    _model(state, who, name, "viewer")
    try:
        return state.store.models.version(name, selector)
    except NotFound:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST",
            f"Model Version (name={name}, version={selector}) not found",
            404,
        ) from None


@router.get("/model-versions/get")
def get_version(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    return {
        "model_version": version_json(
            _version(state, who, ask.text("name"), str(ask.text("version")))
        )
    }


@router.get("/model-versions/get-download-uri")
def download_uri(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    version = _version(state, who, ask.text("name"), str(ask.text("version")))
    return {"artifact_uri": f"mlflow-artifacts:/{files.VERSIONS}/{version.artifact.id}"}


_VERSION_CLAUSE = re.compile(r"\s*(name|run_id)\s*=\s*(['\"])((?:(?!\2).)*)\2\s*", re.IGNORECASE)


def version_conditions(text: str | None) -> dict[str, str]:
    """The ``name =`` and ``run_id =`` conditions of a model version search, joined by
    AND; anything else is refused rather than left out of the answer."""
    found: dict[str, str] = {}
    if not text or not text.strip():
        return found
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = _VERSION_CLAUSE.fullmatch(clause)
        if match is None:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", "model versions are filtered by name = and run_id = only"
            )
        found[match[1].lower()] = match[3]
    return found


@router.get("/model-versions/search")
def search_versions(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    conditions = version_conditions(ask.optional_text("filter"))
    found = []
    for model in state.store.models.list():
        if (
            not visible(state, who, model.project)
            or conditions.get("name", model.name) != model.name
        ):
            continue
        for version in state.store.models.versions(model.name):
            if conditions.get("run_id", version.artifact.run_id) == version.artifact.run_id:
                found.append(version_json(version))
    return {"model_versions": found}


@router.post("/registered-models/alias")
def set_alias(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    name = ask.text("name")
    model = _model(state, who, name, "writer")
    version = ask.integer("version")
    state.store.models.set_alias(model.name, ask.text("alias"), version, actor=actor(who))
    return {}


@router.delete("/registered-models/alias")
def delete_alias(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    model = _model(state, who, ask.text("name"), "writer")
    state.store.models.set_alias(model.name, ask.text("alias"), None, actor=actor(who))
    return {}


@router.get("/registered-models/alias")
def get_by_alias(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    return {
        "model_version": version_json(_version(state, who, ask.text("name"), ask.text("alias")))
    }


@router.post("/registered-models/rename")
@router.patch("/registered-models/update")
@router.delete("/registered-models/delete")
@router.post("/registered-models/set-tag")
@router.delete("/registered-models/delete-tag")
@router.patch("/model-versions/update")
@router.post("/model-versions/transition-stage")
@router.delete("/model-versions/delete")
@router.post("/model-versions/set-tag")
@router.delete("/model-versions/delete-tag")
def not_supported(request: Request, who: Caller) -> dict[str, Any]:
    raise NotSupported(
        f"{request.url.path.rsplit('/', 2)[-2]}/{request.url.path.rsplit('/', 1)[-1]} is not "
        "supported by Assay's registry (versions are immutable; aliases replace stages)"
    )
