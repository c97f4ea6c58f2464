"""MLflow's artifact trees as Assay artifacts.

A run's artifact root (``mlflow-artifacts:/<project>/<run id>/artifacts``) is the Assay
artifact ``mlflow-<run id>`` (type ``mlflow-run``, produced by the run): each uploaded
file commits a new version holding the previous version's files plus this one, so the
latest version is the run's tree and every earlier state stays readable. A registered
model version's files are an Assay artifact version too, read through
``mlflow-artifacts:/_versions/<artifact version id>`` (read only)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from assay.errors import NotFound
from assay.records import ArtifactDraft, ArtifactVersion, FileEntry, Manifest
from assay.server.deps import AppState
from assay.values import artifact_path

RUN_TYPE = "mlflow-run"
VERSIONS = "_versions"  # a project name starts with a letter or digit: no clash
# uploads to one run apply one after another in a process (a fixed set of locks, picked
# by the run's artifact name)
_LOCKS = tuple(threading.Lock() for _ in range(64))


def run_artifact(run_id: str) -> str:
    return f"mlflow-{run_id}"


@dataclass(frozen=True)
class Tree:
    """Where an artifact path points: a run's root, or a stored version (read only)."""

    project: str
    run_id: str | None
    version_id: str | None
    path: str  # inside the tree ('' for its root)


def parse(path: str) -> Tree:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == VERSIONS:
        return Tree(project="", run_id=None, version_id=parts[1], path=_inner(parts[2:]))
    if len(parts) >= 3 and parts[2] == "artifacts":
        return Tree(project=parts[0], run_id=parts[1], version_id=None, path=_inner(parts[3:]))
    raise NotFound(
        f"artifact path {path!r} is neither <experiment>/<run id>/artifacts/... nor "
        f"{VERSIONS}/<version id>/..."
    )


def _inner(parts: list[str]) -> str:
    return artifact_path("/".join(parts)) if parts else ""


def latest(state: AppState, project: str, run_id: str) -> ArtifactVersion | None:
    try:
        return state.store.artifacts.version(project, run_artifact(run_id), "latest")
    except NotFound:
        return None


def files_of(state: AppState, version: ArtifactVersion | None) -> list[FileEntry]:
    return [] if version is None else list(state.store.artifacts.manifest(version.id).files)


def put_file(
    state: AppState, *, project: str, run_id: str, path: str, data: bytes, actor: str
) -> ArtifactVersion:
    """Store ``data`` at ``path`` of the run's tree: a new version of its artifact. Writes
    to one run apply one after another; one a parallel server made in between is read
    and kept (the commit is retried on top of it)."""
    digest = state.store.blobs.put(data)
    entry = FileEntry(path=path, size=len(data), digest=digest)
    name = run_artifact(run_id)
    with _LOCKS[hash((project, name)) % len(_LOCKS)]:
        for _ in range(5):
            base = latest(state, project, run_id)
            files = [f for f in files_of(state, base) if f.path != path]
            draft = ArtifactDraft(
                project=project,
                name=name,
                type=RUN_TYPE,
                manifest=Manifest(files=sorted([*files, entry], key=lambda f: f.path)),
                metadata={"mlflow_run_id": run_id},
                run_id=run_id,
            )
            version = state.store.artifacts.commit(draft, actor=actor)
            now = latest(state, project, run_id)
            if now is not None and entry in files_of(state, now):
                return version
        return version


def read(state: AppState, entry: FileEntry) -> bytes:
    if entry.ref is not None:
        raise NotFound(f"{entry.path} is a reference to {entry.ref}, not stored by Assay")
    if entry.chunks:
        return b"".join(state.store.blobs.get(d) for d, _ in entry.chunks)
    return state.store.blobs.get(entry.digest)


def subtree(files: list[FileEntry], path: str) -> list[FileEntry]:
    """The files under ``path``, their paths relative to it."""
    if not path:
        return files
    prefix = path.rstrip("/") + "/"
    return [
        FileEntry(
            path=f.path[len(prefix) :], size=f.size, digest=f.digest, chunks=f.chunks, ref=f.ref
        )
        for f in files
        if f.path.startswith(prefix)
    ]


def listing(files: list[FileEntry], path: str) -> list[dict[str, object]]:
    """MLflow's listing of one folder: its files and its folders, names relative to it."""
    exact = [f for f in files if f.path == path]
    if exact and path:
        name = path.rsplit("/", 1)[-1]
        return [{"path": name, "is_dir": False, "file_size": exact[0].size}]
    found: dict[str, dict[str, object]] = {}
    for entry in subtree(files, path):
        head, slash, _ = entry.path.partition("/")
        if slash:
            found.setdefault(head, {"path": head, "is_dir": True})
        else:
            found[head] = {"path": head, "is_dir": False, "file_size": entry.size}
    return [found[k] for k in sorted(found)]
