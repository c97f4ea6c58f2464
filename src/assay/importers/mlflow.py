"""`assay import mlflow --from URI`: experiments, runs, every metric point, artifacts and
registered models from an MLflow tracking server, a ``sqlite:///`` (or other database)
store, or an ``./mlruns`` folder, read through MLflow's own client.

MLflow's records map onto Assay's as the MLflow API of ``assay server`` reads them
back (docs/mlflow.md): an experiment is a project (its name, characters other than
letters, digits, ``_ - .`` replaced by ``-``); a run keeps its id, name, status, start
and end times; params are its config (MLflow's strings); tag ``k``=``v`` is the Assay
tag ``k=v``, ``mlflow.runName`` and ``mlflow.note.content`` the name and notes, other
``mlflow.*`` tags and tags too long for an Assay tag are kept in the run's ``host``
under ``mlflow.tag:<key>``. A run's artifacts become the artifact ``mlflow-<run id>``
(type ``mlflow-run``) produced by the run; a registered model version becomes a version
of the artifact named after the model, registered, with the model's aliases.

Metrics keep every point (a point repeated exactly, same step, time and value, once).
MLflow lets one step hold several values (a metric logged
without ``step=`` is at step 0 each time); Assay keeps one value per step, so such a
series is imported with its points numbered in time order, and its MLflow steps kept
as the series ``<key>/mlflow_step``: nothing is dropped.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay.artifacts.artifact import Artifact, log_artifact
from assay.errors import AssayError, ImportIncomplete, InvalidInput, NotFound
from assay.extras import need
from assay.importers.runs import RunData, same_series, write_run
from assay.progress import track
from assay.records import Columns
from assay.store.base import Store

PAGE = 1000
MAX_TAG = 256
HOST_TAG = "mlflow.tag:"
STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(kw_only=True)
class MlflowImport:
    experiments: int = 0
    runs: int = 0
    points: int = 0
    artifact_files: int = 0
    model_versions: int = 0
    skipped: list[str] = field(default_factory=list)  # deleted experiments and runs


def project_for(name: str) -> str:
    """The project an experiment name maps to (as the MLflow API of the server maps it)."""
    slug = _NOT_NAME.sub("-", name.strip()).strip("-_.")[:128]
    if not slug:
        raise InvalidInput(f"experiment name {name!r} has no letter or digit")
    return slug


def import_mlflow(
    store: Store, source: str, project: str | None = None, progress: bool | None = None
) -> MlflowImport:
    """Import everything ``source`` (a tracking URI or an ``mlruns`` folder) holds."""
    need("mlflow", "mlflow")
    from mlflow.exceptions import MlflowException

    failures = (AssayError, OSError, MlflowException)
    done = MlflowImport()
    problems: list[str] = []
    with _client(source) as client:
        versions: dict[str, str] = {}  # imported run id -> its project
        for experiment in _experiments(client, done):
            target = project or project_for(experiment.name)
            runs = list(_runs(client, experiment.experiment_id, done))
            done.experiments += 1
            with track(experiment.name, len(runs), "runs", progress) as advance:
                for run in runs:
                    try:
                        _import_run(store, client, run, target, done)
                    except failures as exc:
                        problems.append(f"run {run.info.run_id}: {exc}")
                    advance(1)
            versions.update({r.info.run_id: target for r in runs})
        for model in _models(client):
            try:
                _import_model(store, client, model, projects=versions, project=project, done=done)
            except failures as exc:
                problems.append(f"registered model {model.name}: {exc}")
    if problems:
        listed = "\n  ".join(problems)
        raise ImportIncomplete(f"the import of {source} is incomplete:\n  {listed}")
    return done


@contextmanager
def _client(source: str) -> Iterator[Any]:
    from mlflow import MlflowClient

    uri = source
    if "://" not in source:  # an mlruns folder
        folder = Path(source)
        if not folder.is_dir():
            raise InvalidInput(f"{source} is neither a tracking URI nor an mlruns folder")
        uri = folder.resolve().as_uri()
    # every MLflow client made inside the import (its downloads make their own) reads the
    # source, never the default store in the working folder; an old folder store may be
    # read; MLflow draws no progress bars of its own
    settings = {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        with warnings.catch_warnings():  # MLflow's own deprecations are not the user's
            warnings.simplefilter("ignore", DeprecationWarning)
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            try:
                client.search_experiments(max_results=1)
            except Exception as exc:  # MLflow's and its stores' errors, named once here
                raise InvalidInput(f"MLflow cannot read {source}: {exc}") from None
            yield client
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _experiments(client: Any, done: MlflowImport) -> Iterator[Any]:
    from mlflow.entities import ViewType

    token = None
    while True:
        page = client.search_experiments(view_type=ViewType.ALL, max_results=PAGE, page_token=token)
        for experiment in page:
            if experiment.lifecycle_stage == "deleted":
                done.skipped.append(f"experiment {experiment.name} (deleted)")
            else:
                yield experiment
        token = page.token
        if not token:
            return


def _runs(client: Any, experiment_id: str, done: MlflowImport) -> Iterator[Any]:
    from mlflow.entities import ViewType

    token = None
    while True:
        page = client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=PAGE, page_token=token
        )
        for run in page:
            if run.info.lifecycle_stage == "deleted":
                done.skipped.append(f"run {run.info.run_id} (deleted)")
            else:
                yield run
        token = page.token
        if not token:
            return


# ---- one run ------------------------------------------------------------------------------


def _import_run(store: Store, client: Any, run: Any, project: str, done: MlflowImport) -> None:
    info, tags = run.info, dict(run.data.tags)
    series = _series(client, info.run_id, list(run.data.metrics))
    start = info.start_time / 1000
    end = info.end_time / 1000 if info.end_time else None
    status = STATUS.get(info.status, "crashed")  # RUNNING / SCHEDULED runs never finished
    data = RunData(
        id=info.run_id,
        project=project,
        name=tags.pop("mlflow.runName", None) or info.run_name or info.run_id,
        created_at=start,
        status=status,
        finished_at=end,
        heartbeat_at=end or start,
        config=dict(run.data.params),
        notes=tags.pop("mlflow.note.content", None),
        series=series,
        **_tags(tags),
    )
    write_run(store, data, f"mlflow:{info.run_id}")
    differ = same_series(series, store.runs.history(info.run_id))
    if differ:
        raise ImportIncomplete(f"the points of {', '.join(differ[:5])} differ after the import")
    done.runs += 1
    done.points += data.points
    done.artifact_files += _import_files(store, client, info.run_id, project)


def _tags(tags: dict[str, str]) -> dict[str, Any]:
    plain, host = [], {}
    for key, value in tags.items():
        text = f"{key}={value}" if value else key
        if key.startswith("mlflow.") or "=" in key or len(text) > MAX_TAG:
            host[HOST_TAG + key] = value
        else:
            plain.append(text)
    return {"tags": plain, "host": host}


def _series(client: Any, run_id: str, keys: list[str]) -> dict[str, Columns]:
    series: dict[str, Columns] = {}
    for key in keys:
        # the same point twice (MLflow's folder store repeats a run's metrics when a
        # model is logged) carries nothing: once
        points = {(m.step, m.timestamp, m.value): m for m in client.get_metric_history(run_id, key)}
        history = sorted(points.values(), key=lambda m: (m.step, m.timestamp))
        steps = np.array([m.step for m in history], dtype=np.int64)
        times = np.array([m.timestamp / 1000 for m in history], dtype=np.float64)
        values = np.array([m.value for m in history], dtype=np.float64)
        if len(np.unique(steps)) == len(steps):
            series[key] = Columns(steps=steps, times=times, values=values)
            continue
        order = np.argsort(times, kind="stable")  # several values at one step: time order
        index = np.arange(len(order), dtype=np.int64)
        series[key] = Columns(steps=index, times=times[order], values=values[order])
        kept = steps[order].astype(np.float64)
        series[f"{key}/mlflow_step"] = Columns(steps=index, times=times[order], values=kept)
    return series


def _import_files(store: Store, client: Any, run_id: str, project: str) -> int:
    if not client.list_artifacts(run_id):
        return 0
    with tempfile.TemporaryDirectory(prefix="assay-mlflow-") as folder:
        local = Path(client.download_artifacts(run_id, "", folder))
        art = Artifact(f"mlflow-{run_id}", type="mlflow-run")
        art.add_dir(local)
        version = log_artifact(store, art, project, run_id=run_id, progress=False)
    return version.file_count


# ---- registered models ------------------------------------------------------------------------


def _models(client: Any) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _import_model(
    store: Store,
    client: Any,
    model: Any,
    *,
    projects: dict[str, str],
    project: str | None,
    done: MlflowImport,
) -> None:
    import mlflow.artifacts

    versions = sorted(
        client.search_model_versions(f"name='{model.name}'"), key=lambda v: int(v.version)
    )
    numbers: dict[str, int] = {}
    for version in versions:
        where = projects.get(version.run_id or "", project or "Default")
        with tempfile.TemporaryDirectory(prefix="assay-mlflow-") as folder:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=_files_of(client, model.name, version.version),
                dst_path=folder,
                tracking_uri=client.tracking_uri,
            )
            art = Artifact(
                project_for(model.name), type="model", description=version.description or None
            )
            art.add_dir(local)
            run_id = version.run_id if version.run_id in projects else None
            committed = log_artifact(store, art, where, run_id=run_id, progress=False)
        registered = store.models.register(
            committed.id, model.name, description=model.description or None, tags=model.tags
        )
        numbers[str(version.version)] = registered.version
        done.model_versions += 1
    _aliases(store, model, numbers)


def _files_of(client: Any, name: str, version: str) -> str:
    """Where a version's files are. MLflow 3 answers ``models:/<logged model id>``, which
    its download would resolve through the default registry (creating ``mlflow.db`` in
    the working folder): the logged model's own location is asked of this client."""
    uri: str = client.get_model_version_download_uri(name, version)
    if uri.startswith("models:/m-"):
        model_id = uri.removeprefix("models:/").split("/", 1)[0]
        uri = client.get_logged_model(model_id).artifact_location
    return uri


def _aliases(store: Store, model: Any, numbers: dict[str, int]) -> None:
    try:
        current = store.models.get(model.name).aliases
    except NotFound:
        current = {}
    for alias, version in (model.aliases or {}).items():
        number = numbers.get(str(version))
        if number is not None and current.get(alias) != number:
            store.models.set_alias(model.name, alias, number, reason="imported from MLflow")
