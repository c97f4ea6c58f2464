"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``): uploads,
downloads and listings of run trees and registered model versions (``files.py``)."""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from assay.errors import NotFound
from assay.records import FileEntry
from assay.server.api.artifacts import version_for
from assay.server.body import read_body
from assay.server.deps import AppState, require_run, state_of
from assay.server.mlflow import files
from assay.server.mlflow.protocol import Caller, MlflowError, MlflowRoute, NotSupported, actor
from assay.store.sql.auth import Principal

router = APIRouter(route_class=MlflowRoute)


def _files(state: AppState, who: Principal, tree: files.Tree) -> list[FileEntry]:
    if tree.version_id is not None:
        version = version_for(state, who, tree.version_id, "viewer")
        return files.files_of(state, version)
    assert tree.run_id is not None
    if require_run(state, who, tree.run_id, "viewer") != tree.project:
        raise NotFound(f"run {tree.run_id} is not in experiment {tree.project}")
    return files.files_of(state, files.latest(state, tree.project, tree.run_id))


@router.get("/artifacts")
def list_artifacts(request: Request, who: Caller, path: str = "") -> dict[str, Any]:
    state = state_of(request)
    if not path.strip("/"):
        return {"files": []}
    tree = files.parse(path)
    return {"files": files.listing(_files(state, who, tree), tree.path)}


@router.get("/artifacts/{path:path}")
def download(path: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    tree = files.parse(path)
    for entry in _files(state, who, tree):
        if entry.path == tree.path:
            kind = mimetypes.guess_type(entry.path)[0] or "application/octet-stream"
            return Response(files.read(state, entry), media_type=kind)
    raise NotFound(f"no artifact at {path!r}")


@router.put("/artifacts/{path:path}")
async def upload(path: str, request: Request, who: Caller) -> dict[str, Any]:
    state = state_of(request)
    tree = files.parse(path)
    if tree.run_id is None:
        raise MlflowError("PERMISSION_DENIED", "a registered model version cannot be changed", 403)
    if not tree.path:
        raise MlflowError("INVALID_PARAMETER_VALUE", "an upload needs a file path in the run")
    project = await run_in_threadpool(require_run, state, who, tree.run_id, "writer")
    if project != tree.project:
        raise NotFound(f"run {tree.run_id} is not in experiment {tree.project}")
    data = await read_body(request, state.config.max_body_bytes)
    await run_in_threadpool(
        lambda: files.put_file(
            state,
            project=project,
            run_id=tree.run_id or "",
            path=tree.path,
            data=data,
            actor=actor(who),
        )
    )
    return {}


@router.delete("/artifacts/{path:path}")
def delete(path: str, request: Request, who: Caller) -> dict[str, Any]:
    raise NotSupported("Assay keeps every artifact version; files are not deleted")


@router.post("/mpu/create/{path:path}")
def multipart(path: str, request: Request, who: Caller) -> dict[str, Any]:
    raise NotSupported("multipart uploads are not supported: files are uploaded whole")
