"""Which project each thing belongs to, in bulk: the questions a server asks to keep a
caller inside the projects they may read (blobs by digest, lineage edges, runs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from assay.store.sql import opening
from assay.store.sql.schema import artifact_versions, artifacts, blob_refs, blobs, runs

IN_CHUNK = 500  # values per IN (...) list
RUN_OWNER = "run:"  # blob_refs.owner of a blob a run holds (a large git diff)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), IN_CHUNK):
        yield items[i : i + IN_CHUNK]


class SqlAccess:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def blob_projects(self, digests: Sequence[str]) -> dict[str, set[str]]:
        """For each digest, the projects whose artifact versions or runs hold it (a digest
        no one holds, such as an upload not committed yet, maps to an empty set)."""
        wanted = list(dict.fromkeys(digests))
        found: dict[str, set[str]] = {d: set() for d in wanted}
        by_version = (
            sa.select(blob_refs.c.digest, artifacts.c.project)
            .join(artifact_versions, artifact_versions.c.id == blob_refs.c.owner)
            .join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
        )
        by_run = sa.select(blob_refs.c.digest, runs.c.project).join(
            runs, sa.literal(RUN_OWNER) + runs.c.id == blob_refs.c.owner
        )
        with opening.translating("check what the caller may read"), self.engine.connect() as conn:
            for part in _chunks(wanted):
                for query in (by_version, by_run):
                    for digest, project in conn.execute(query.where(blob_refs.c.digest.in_(part))):
                        found[digest].add(project)
        return found

    def run_projects(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The project of each run that exists."""
        found: dict[str, str] = {}
        with opening.translating("check what the caller may read"), self.engine.connect() as conn:
            for part in _chunks(list(dict.fromkeys(run_ids))):
                query = sa.select(runs.c.id, runs.c.project).where(runs.c.id.in_(part))
                found.update({r.id: r.project for r in conn.execute(query)})
        return found

    def version_projects(self, version_ids: Sequence[str]) -> dict[str, str]:
        """The project of each artifact version that exists."""
        found: dict[str, str] = {}
        query = sa.select(artifact_versions.c.id, artifacts.c.project).join(
            artifacts, artifacts.c.id == artifact_versions.c.artifact_id
        )
        with opening.translating("check what the caller may read"), self.engine.connect() as conn:
            for part in _chunks(list(dict.fromkeys(version_ids))):
                rows = conn.execute(query.where(artifact_versions.c.id.in_(part)))
                found.update({r.id: r.project for r in rows})
        return found

    def stored_since(self, digests: Sequence[str], since: float) -> set[str]:
        """The digests whose bytes were stored (uploaded, or uploaded again) at ``since``
        or later."""
        found: set[str] = set()
        with opening.translating("check what the caller may read"), self.engine.connect() as conn:
            for part in _chunks(list(dict.fromkeys(digests))):
                query = sa.select(blobs.c.digest).where(
                    blobs.c.digest.in_(part), blobs.c.stored_at >= since
                )
                found.update(conn.scalars(query))
        return found
