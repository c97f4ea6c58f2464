"""How Assay's records read as MLflow's, and MLflow's tags as Assay's fields.

* An experiment is a project; its id is the project's name (MLflow's default
  experiment "0" is the project ``Default``). An experiment name becomes a project name
  with every character other than letters, digits, ``_ - .`` replaced by ``-``.
* A run keeps its Assay id. ``mlflow.runName`` is the run's name and
  ``mlflow.note.content`` its notes; any other ``mlflow.*`` tag (MLflow's own: user,
  source, git commit) and a tag too long for an Assay tag is kept in the run's ``host``
  under ``mlflow.tag:<key>``; every other tag is an Assay tag ``key=value`` (``key``
  alone when the value is empty), so ``'team=vision' in tags`` finds it.
* Params are the run's ``config`` (nested keys read as ``a.b``); metrics its series.
"""

from __future__ import annotations

import re
from typing import Any

from assay.records import Project, Run
from assay.server.mlflow.protocol import MlflowError, json_float, millis
from assay.values import dotted

DEFAULT_EXPERIMENT = "0"
DEFAULT_PROJECT = "Default"
RUN_NAME = "mlflow.runName"
NOTE = "mlflow.note.content"
HOST_TAG = "mlflow.tag:"
MAX_TAG = 256  # an Assay tag's length

TO_MLFLOW_STATUS = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "crashed": "FAILED",
}
FROM_MLFLOW_STATUS = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
}

_NOT_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def project_for_name(name: str) -> str:
    """The project an experiment name maps to."""
    slug = _NOT_NAME.sub("-", name.strip()).strip("-_.")[:128]
    if not slug:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE", f"experiment name {name!r} has no letter or digit"
        )
    return slug


def project_for_id(experiment_id: str) -> str:
    return DEFAULT_PROJECT if experiment_id == DEFAULT_EXPERIMENT else experiment_id


def experiment_id(project: str) -> str:
    return DEFAULT_EXPERIMENT if project == DEFAULT_PROJECT else project


def artifact_root(project: str) -> str:
    return f"mlflow-artifacts:/{project}"


def run_artifact_uri(project: str, run_id: str) -> str:
    return f"{artifact_root(project)}/{run_id}/artifacts"


def experiment_json(project: Project) -> dict[str, Any]:
    last = project.last_activity if project.last_activity is not None else project.created_at
    return {
        "experiment_id": experiment_id(project.name),
        "name": project.name,
        "artifact_location": artifact_root(project.name),
        "lifecycle_stage": "active",
        "creation_time": millis(project.created_at),
        "last_update_time": millis(last),
        "tags": [],
    }


# ---- tags ----------------------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_host_tag(key: str, value: str) -> bool:
    """Whether a tag is kept in ``host``: MLflow's own, or one no Assay tag can hold (too
    long, several lines, ``=`` in its key)."""
    text = tag_text(key, value)
    return (
        key.startswith("mlflow.")
        or len(text) > MAX_TAG
        or "=" in key
        or bool(_CONTROL.search(text))
    )


def tag_text(key: str, value: str) -> str:
    return f"{key}={value}" if value else key


def tag_key(tag: str) -> str:
    return tag.split("=", 1)[0]


def tags_of(run: Run) -> dict[str, str]:
    """Every MLflow tag of a run, from its name, notes, tags and host."""
    found: dict[str, str] = {}
    for tag in run.tags:
        key, _, value = tag.partition("=")
        found[key] = value
    for key, value in run.host.items():
        if key.startswith(HOST_TAG) and value is not None:
            found[key[len(HOST_TAG) :]] = str(value)
    found[RUN_NAME] = run.name
    if run.notes is not None:
        found[NOTE] = run.notes
    return found


def params_of(run: Run) -> dict[str, str]:
    return {k: param_text(v) for k, v in dotted(run.config).items()}


def param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if value is None:
        return "None"
    return str(value)


def run_json(run: Run, times: dict[str, float]) -> dict[str, Any]:
    """The MLflow ``Run``: ``times`` holds each metric's latest point's time."""
    tags = tags_of(run)
    metrics = [
        {
            "key": key,
            "value": json_float(summary.last),
            "timestamp": millis(times.get(key, run.updated_at)),
            "step": summary.last_step,
        }
        for key, summary in sorted(run.metrics.items())
    ]
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": experiment_id(run.project),
        "user_id": tags.get("mlflow.user", ""),
        "status": TO_MLFLOW_STATUS.get(run.status, "RUNNING"),
        "start_time": millis(run.created_at),
        "artifact_uri": run_artifact_uri(run.project, run.id),
        "lifecycle_stage": "active" if run.deleted_at is None else "deleted",
    }
    if run.finished_at is not None and run.status != "running":
        info["end_time"] = millis(run.finished_at)
    data = {
        "metrics": metrics,
        "params": [{"key": k, "value": v} for k, v in sorted(params_of(run).items())],
        "tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
    }
    inputs = run.host.get("mlflow.inputs") or []
    outputs = run.host.get("mlflow.outputs") or []
    return {
        "info": info,
        "data": data,
        "inputs": {"dataset_inputs": inputs, "model_inputs": []},
        "outputs": {"model_outputs": outputs},
    }
