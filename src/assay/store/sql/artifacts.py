"""``store.artifacts`` on SQL: the facet over catalog.py's queries (versions, manifests,
aliases, lineage)."""

from __future__ import annotations

from collections.abc import Sequence

from assay.records import ArtifactDraft, ArtifactInfo, ArtifactVersion, LineageEdge, Manifest
from assay.store.sql import catalog
from assay.store.sql.tx import Database
from assay.store.validate import user_strings, user_text


class SqlArtifacts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def commit(self, draft: ArtifactDraft, actor: str | None = None) -> ArtifactVersion:
        user_strings("metadata", draft.metadata)
        user_text("description", draft.description)
        with self.db.write(actor=actor) as tx:
            return catalog.commit(tx, draft)

    def versions(self, project: str, name: str) -> list[ArtifactVersion]:
        with self.db.read() as conn:
            return catalog.versions_of(conn, project, name)

    def version(self, project: str, name: str, selector: str) -> ArtifactVersion:
        with self.db.read() as conn:
            return catalog.select_version(conn, project, name, selector)

    def versions_by_id(self, ids: Sequence[str]) -> list[ArtifactVersion]:
        with self.db.read() as conn:
            return catalog.versions_by_id(conn, ids)

    def manifest(self, version_id: str) -> Manifest:
        with self.db.read() as conn:
            return catalog.manifest_of(conn, version_id)

    def set_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None
    ) -> None:
        with self.db.write(actor=actor) as tx:
            catalog.set_alias(tx, project, name, alias, version)

    def record_use(self, run_id: str, version_id: str) -> None:
        with self.db.write() as tx:
            catalog.record_use(tx, run_id, version_id)

    def lineage_edges(
        self, run_ids: Sequence[str], version_ids: Sequence[str]
    ) -> list[LineageEdge]:
        with self.db.read() as conn:
            return catalog.edges(conn, run_ids, version_ids)

    def list(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        with self.db.read() as conn:
            return catalog.artifacts_of(conn, project, type)
