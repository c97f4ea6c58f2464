"""``store.artifacts``: artifact versions, their manifests and aliases, and lineage
(docs/artifacts.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from assay.records import ArtifactDraft, ArtifactInfo, ArtifactVersion, LineageEdge, Manifest


class Artifacts(Protocol):
    def commit(self, draft: ArtifactDraft, actor: str | None = None) -> ArtifactVersion:
        """Create a version once every blob its manifest names is stored (else Conflict);
        identical content returns the existing version. Moves the draft's aliases."""

    def versions(self, project: str, name: str) -> list[ArtifactVersion]: ...

    def version(self, project: str, name: str, selector: str) -> ArtifactVersion:
        """``selector``: ``v3``, ``latest`` or an alias; NotFound otherwise."""

    def versions_by_id(self, ids: Sequence[str]) -> list[ArtifactVersion]: ...

    def manifest(self, version_id: str) -> Manifest: ...

    def set_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None
    ) -> None:
        """Point an alias at a version number, or remove it (None)."""

    def record_use(self, run_id: str, version_id: str) -> None:
        """A lineage edge: the run used this artifact version."""

    def lineage_edges(
        self, run_ids: Sequence[str], version_ids: Sequence[str]
    ) -> list[LineageEdge]:
        """Every edge touching one of these runs or artifact versions."""

    def list(self, project: str, type: str | None = None) -> list[ArtifactInfo]: ...
