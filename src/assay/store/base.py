"""The Store protocol: everything Assay persists goes through these methods.

Two kinds implement it: ``SqlStore`` (SQLite or PostgreSQL plus a blob folder) and, for a
team server, an HTTP client. The SDK and every domain module talk to a Store only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from assay.errors import InvalidInput
from assay.records import (
    AliasMove,
    ArtifactDraft,
    ArtifactInfo,
    ArtifactVersion,
    Batch,
    Columns,
    EvalItem,
    Evaluation,
    EvaluationDraft,
    LineageEdge,
    LogLine,
    Manifest,
    ModelVersion,
    Project,
    RegisteredModel,
    Run,
)

DEFAULT_HOME = "~/.assay"


@runtime_checkable
class Store(Protocol):
    uri: str

    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """Apply a batch atomically; False if this (run, writer, seq) was applied before.
        ``actor`` names who acts in the audit log (a server passes its caller)."""

    def projects(self) -> list[Project]: ...

    def run(self, run_id: str) -> Run:
        """The run, or NotFound."""

    def runs(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        """Runs of a project matching a filter expression (see docs/query.md)."""

    def count_runs(self, project: str, filter: str | None = None) -> int: ...

    def history(self, run_id: str, keys: Sequence[str] | None = None) -> dict[str, Columns]:
        """Every point of the named series (all series when keys is None)."""

    def series(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        points: int = 1000,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[tuple[str, str], Columns]:
        """Each series, within steps [start, end] if given, downsampled to at most
        ``points`` points with each bucket's min and max kept."""

    def log_lines(self, run_id: str, tail: int | None = None) -> list[LogLine]: ...

    def put_blob(self, data: bytes) -> str:
        """Store bytes under their BLAKE3 digest and return it."""

    def get_blob(self, digest: str) -> bytes: ...

    def put_blobs(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many blobs (durable once this returns) and return their digests."""

    # ---- artifacts and lineage (docs/artifacts.md) ----

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        """The digests among these that the store does not hold yet."""

    def commit_artifact(self, draft: ArtifactDraft, actor: str | None = None) -> ArtifactVersion:
        """Create a version once every blob its manifest names is stored (else Conflict);
        identical content returns the existing version. Moves the draft's aliases."""

    def artifacts(self, project: str, type: str | None = None) -> list[ArtifactInfo]: ...

    def artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]: ...

    def artifact_version(self, project: str, name: str, selector: str) -> ArtifactVersion:
        """``selector``: ``v3``, ``latest`` or an alias; NotFound otherwise."""

    def artifact_versions_by_id(self, ids: Sequence[str]) -> list[ArtifactVersion]: ...

    def manifest(self, version_id: str) -> Manifest: ...

    def set_artifact_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None
    ) -> None:
        """Point an alias at a version number, or remove it (None)."""

    def record_use(self, run_id: str, version_id: str) -> None:
        """A lineage edge: the run used this artifact version."""

    def lineage_edges(
        self, run_ids: Sequence[str], version_ids: Sequence[str]
    ) -> list[LineageEdge]:
        """Every edge touching one of these runs or artifact versions."""

    # ---- model registry ----

    def register_model(
        self,
        version_id: str,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion: ...

    def models(self, project: str | None = None) -> list[RegisteredModel]: ...

    def model(self, name: str) -> RegisteredModel: ...

    def model_versions(self, name: str) -> list[ModelVersion]: ...

    def model_version(self, name: str, selector: str) -> ModelVersion:
        """``selector``: a version number, ``latest`` or an alias."""

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        reason: str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> AliasMove: ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]: ...

    # ---- evaluations -----------------------------------------------------------------------

    def save_evaluation(self, draft: EvaluationDraft, actor: str | None = None) -> Evaluation: ...

    def evaluations(
        self,
        project: str | None = None,
        model_version_id: str | None = None,
        dataset_version_id: str | None = None,
        limit: int = 100,
    ) -> list[Evaluation]: ...

    def evaluation(self, evaluation_id: str) -> Evaluation: ...

    def evaluation_items(self, evaluation_id: str) -> list[EvalItem]: ...

    def close(self) -> None: ...


def resolve_uri(uri: str | os.PathLike[str] | None = None) -> str:
    """The URI to use: the argument, else ``ASSAY_URI``, else ``~/.assay``."""
    chosen = os.fspath(uri) if uri is not None else os.environ.get("ASSAY_URI") or DEFAULT_HOME
    if not chosen.strip():
        raise InvalidInput("store URI must not be empty")
    return chosen


def local_root(uri: str) -> Path | None:
    """The folder of an embedded store URI (a path or file://), else None."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :]).expanduser()
    if "://" in uri:
        return None
    return Path(uri).expanduser()


def journal_root(uri: str) -> Path:
    """Where runs writing to ``uri`` keep their journals: ``<store>/journal`` for an
    embedded store, else ``ASSAY_JOURNAL_DIR`` or ``~/.assay/journal``."""
    override = os.environ.get("ASSAY_JOURNAL_DIR")
    if override:
        return Path(override).expanduser()
    root = local_root(uri)
    return (root if root is not None else Path(DEFAULT_HOME).expanduser()) / "journal"


def open_store(uri: str | os.PathLike[str] | None = None) -> Store:
    """Open the store a URI names (see DESIGN.md: the URI picks the store)."""
    resolved = resolve_uri(uri)
    root = local_root(resolved)
    if root is not None:
        from assay.store.sql.store import SqlStore

        return SqlStore.embedded(root)
    if resolved.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        from assay.store.sql.store import SqlStore

        return SqlStore.from_url(resolved)
    if resolved.startswith(("http://", "https://")):
        from assay.store.http.store import RemoteStore

        return RemoteStore(resolved)
    scheme = resolved.split("://", 1)[0]
    raise InvalidInput(
        f"store URI {resolved!r}: scheme {scheme!r} is not supported "
        "(use a path, file://, sqlite://, postgresql:// or http(s)://)"
    )
