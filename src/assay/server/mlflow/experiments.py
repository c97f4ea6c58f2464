"""Experiments: Assay projects seen through MLflow (``convert.py`` says how)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from assay.records import Project
from assay.server.api.common import visible
from assay.server.deps import AppState, require, state_of
from assay.server.mlflow import convert
from assay.server.mlflow.protocol import (
    Ask,
    Caller,
    MlflowError,
    MlflowRoute,
    NotSupported,
    actor,
    offset_of,
    page_token,
)
from assay.store.sql.auth import Principal

router = APIRouter(route_class=MlflowRoute)
MAX_RESULTS = 50_000


def project_named(state: AppState, name: str) -> Project:
    """The project, or NotFound in MLflow's words; MLflow's default experiment always
    exists (its project is created with its first run)."""
    for project in state.store.runs.projects():
        if project.name == name:
            return project
    if name == convert.DEFAULT_PROJECT:
        return Project(name=name, run_count=0, created_at=time.time(), last_activity=None)
    raise MlflowError(
        "RESOURCE_DOES_NOT_EXIST",
        f"No Experiment with id={convert.experiment_id(name)} exists",
        404,
    )


def readable_project(state: AppState, who: Principal, experiment_id: str) -> Project:
    """The project, once ``who`` may read it: a caller without the role is refused
    whether or not it exists, so nothing can be probed."""
    name = convert.project_for_id(experiment_id)
    require(state, who, name, "viewer")
    return project_named(state, name)


@router.post("/experiments/create")
def create(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    name = convert.project_for_name(ask.text("name"))
    require(state, who, name, "writer")
    if not state.store.runs.ensure_project(name, actor=actor(who)):
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Experiment(name={name}) already exists.", 400
        )
    return {"experiment_id": convert.experiment_id(name)}


@router.get("/experiments/get")
def get(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    project = readable_project(state_of(request), who, ask.text("experiment_id"))
    return {"experiment": convert.experiment_json(project)}


@router.get("/experiments/get-by-name")
def get_by_name(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    name = ask.text("experiment_name")
    require(state, who, convert.project_for_name(name), "viewer")
    try:
        project = project_named(state, convert.project_for_name(name))
    except MlflowError:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'", 404
        ) from None
    return {"experiment": convert.experiment_json(project)}


@router.post("/experiments/update")
def update(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    project = readable_project(state, who, ask.text("experiment_id"))
    require(state, who, project.name, "writer")
    new_name = ask.optional_text("new_name")
    if new_name is not None and convert.project_for_name(new_name) != project.name:
        raise NotSupported("an Assay project cannot be renamed (experiments are projects)")
    return {}


@router.post("/experiments/search")
def search(request: Request, who: Caller, ask: Ask) -> dict[str, Any]:
    state = state_of(request)
    view = str(ask.get("view_type", "ACTIVE_ONLY"))
    found = [p for p in state.store.runs.projects() if visible(state, who, p.name)]
    if view == "DELETED_ONLY":
        found = []  # Assay does not delete projects
    found = [p for p in found if _matches(p, ask.optional_text("filter"))]
    found = _ordered(found, [str(o) for o in ask.items("order_by")])
    offset = offset_of(ask.optional_text("page_token"))
    limit = ask.integer("max_results", 1000) or 1000
    if not 0 < limit <= MAX_RESULTS:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be 1..{MAX_RESULTS}")
    page = found[offset : offset + limit]
    answer: dict[str, Any] = {"experiments": [convert.experiment_json(p) for p in page]}
    if offset + limit < len(found):
        answer["next_page_token"] = page_token(offset + limit)
    return answer


@router.post("/experiments/delete")
@router.post("/experiments/restore")
def delete(request: Request, who: Caller) -> dict[str, Any]:
    raise NotSupported("Assay does not delete projects (experiments are projects)")


@router.post("/experiments/set-experiment-tag")
@router.post("/experiments/delete-experiment-tag")
def experiment_tag(request: Request, who: Caller) -> dict[str, Any]:
    raise NotSupported("Assay projects have no tags; tag the runs instead")


_CLAUSE = re.compile(
    r"""\s*(?:attributes\.)?(?P<field>name)\s*(?P<op>=|!=|LIKE|ILIKE)\s*
    (?P<q>['"])(?P<value>.*?)(?P=q)\s*""",
    re.IGNORECASE | re.VERBOSE,
)


def _matches(project: Project, text: str | None) -> bool:
    """MLflow's experiment filter, for what a project has: its name."""
    if not text:
        return True
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE",
                f"experiment filter {clause!r} is not supported: Assay filters experiments "
                "by name only (name = 'x', name LIKE 'x%')",
            )
        if not _compare(project.name, match["op"].upper(), match["value"]):
            return False
    return True


def _compare(name: str, op: str, value: str) -> bool:
    if op == "=":
        return name == value
    if op == "!=":
        return name != value
    pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
    flags = re.IGNORECASE if op == "ILIKE" else 0
    return re.fullmatch(pattern, name, flags | re.DOTALL) is not None


def _ordered(found: list[Project], order_by: list[str]) -> list[Project]:
    keys: dict[str, Callable[[Project], Any]] = {
        "name": lambda p: p.name,
        "experiment_id": lambda p: p.name,
        "creation_time": lambda p: p.created_at,
        "last_update_time": lambda p: p.last_activity or p.created_at,
    }
    ordered = sorted(found, key=lambda p: p.created_at, reverse=True)
    for clause in reversed(order_by):
        field, _, direction = clause.strip().partition(" ")
        field = field.removeprefix("attributes.")
        if field not in keys:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"cannot order experiments by {field!r}")
        ordered.sort(key=keys[field], reverse=direction.strip().upper() == "DESC")
    return ordered
