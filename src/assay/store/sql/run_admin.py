"""Run management in SQL: edit a run's descriptive fields, delete it softly, restore it,
move it to another project, and purge deleted runs for good (``assay gc``). Each change
is one transaction with its audit record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from assay.errors import Conflict, InvalidInput, NotFound
from assay.records import RunEdit
from assay.store.sql import audit, cells
from assay.store.sql.schema import (
    artifact_aliases,
    artifact_versions,
    artifacts,
    batches,
    blob_refs,
    evaluations,
    lineage,
    log_lines,
    metric_chunks,
    metric_summary,
    model_versions,
    projects,
    run_cells,
    run_tags,
    runs,
)
from assay.store.sql.tx import Tx
from assay.values import check_project, check_string, check_tags, check_text

RUN_RETENTION = 30 * 24 * 3600.0  # seconds a deleted run stays restorable before gc purges it
MAX_NOTES = 100_000


@dataclass(frozen=True, kw_only=True)
class PurgeReport:
    dry_run: bool
    runs: list[str]  # the runs purged (or that would be)
    artifact_versions: int  # versions removed with them (--with-artifacts)
    kept_versions: int  # versions a deletion asked for but something else still uses


def _row(conn: sa.Connection, run_id: str) -> Any:
    row = conn.execute(
        sa.select(runs.c.project, runs.c.deleted_at).where(runs.c.id == run_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no run with id {run_id!r}")
    return row


def check_edit(edit: RunEdit) -> RunEdit:
    """The edit, or InvalidInput naming the field that cannot be stored."""
    check_text("run name", edit.name, single_line=True)
    for what, value, limit in (("group", edit.group, 256), ("job type", edit.job_type, 64)):
        if value:
            check_text(what, value, limit, single_line=True)
    if edit.notes is not None:
        if not isinstance(edit.notes, str) or len(edit.notes) > MAX_NOTES:
            raise InvalidInput(f"notes must be a string of at most {MAX_NOTES} characters")
        check_string("notes", edit.notes)
    for tags in (edit.tags, edit.add_tags, edit.remove_tags):
        if tags is not None:
            check_tags(tags)
    return edit


def edit(tx: Tx, run_id: str, change: RunEdit) -> None:
    conn = tx.conn
    _row(conn, run_id)
    values: dict[str, Any] = {}
    if change.name is not None:
        values["name"] = change.name
    for field, column in (("notes", "notes"), ("group", "group_name"), ("job_type", "job_type")):
        value = getattr(change, field)
        if value is not None:
            values[column] = value or None
    if values:
        conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
    tags = _edit_tags(tx, run_id, change)
    record: dict[str, Any] = dict(values)
    if tags is not None:
        record["tags"] = tags
    if record:
        audit.append(conn, tx.actor, "run.edited", f"run:{run_id}", record)


def _edit_tags(tx: Tx, run_id: str, change: RunEdit) -> list[str] | None:
    if change.tags is None and not change.add_tags and not change.remove_tags:
        return None
    conn = tx.conn
    query = sa.select(run_tags.c.tag).where(run_tags.c.run_id == run_id)
    current = [r.tag for r in conn.execute(query)]
    tags = list(change.tags) if change.tags is not None else sorted(current)
    tags = [t for t in dict.fromkeys([*tags, *change.add_tags]) if t not in change.remove_tags]
    conn.execute(run_tags.delete().where(run_tags.c.run_id == run_id))
    if tags:
        conn.execute(run_tags.insert(), [{"run_id": run_id, "tag": t} for t in tags])
    return sorted(tags)


def delete(tx: Tx, run_id: str, now: float, *, with_artifacts: bool) -> None:
    row = _row(tx.conn, run_id)
    if row.deleted_at is not None:
        raise Conflict(f"run {run_id} is deleted already (restore it first to delete it again)")
    tx.conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(deleted_at=now, delete_artifacts=with_artifacts)
    )
    change = {"project": row.project, "with_artifacts": with_artifacts}
    audit.append(tx.conn, tx.actor, "run.deleted", f"run:{run_id}", change)


def restore(tx: Tx, run_id: str) -> None:
    row = _row(tx.conn, run_id)
    if row.deleted_at is None:
        raise Conflict(f"run {run_id} is not deleted: there is nothing to restore")
    tx.conn.execute(
        runs.update().where(runs.c.id == run_id).values(deleted_at=None, delete_artifacts=False)
    )
    audit.append(tx.conn, tx.actor, "run.restored", f"run:{run_id}", {"project": row.project})


def move(tx: Tx, run_id: str, project: str, now: float) -> str:
    """Move the run to ``project`` (created if new); the project it left. Its artifacts
    stay in theirs, linked to it by lineage."""
    check_project(project)
    conn = tx.conn
    row = _row(conn, run_id)
    if row.project == project:
        return str(row.project)
    conn.execute(tx.insert(projects).on_conflict_do_nothing(), {"name": project, "created_at": now})
    conn.execute(runs.update().where(runs.c.id == run_id).values(project=project))
    cells.move(conn, run_id, project)
    change = {"from": row.project, "to": project}
    audit.append(conn, tx.actor, "run.moved", f"run:{run_id}", change)
    return str(row.project)


def due(conn: sa.Connection, before: float) -> list[str]:
    """Runs deleted before ``before``, oldest first."""
    query = (
        sa.select(runs.c.id)
        .where(runs.c.deleted_at.is_not(None), runs.c.deleted_at < before)
        .order_by(runs.c.deleted_at)
    )
    return [r for (r,) in conn.execute(query)]


def purge(tx: Tx, run_id: str, before: float) -> tuple[int, int] | None:
    """Remove a deleted run and everything that is only its: (artifact versions removed,
    versions kept because a model, an evaluation or another run still uses them), or None:
    a run restored meanwhile (or deleted again later) is left alone."""
    conn = tx.conn
    row = conn.execute(
        sa.select(runs.c.project, runs.c.deleted_at, runs.c.delete_artifacts)
        .where(runs.c.id == run_id)
        .with_for_update()
    ).first()
    if row is None or row.deleted_at is None or row.deleted_at >= before:
        return None
    removed, kept = (0, 0)
    if row.delete_artifacts:
        removed, kept = _purge_versions(conn, run_id)
    produced = sa.select(artifact_versions.c.id).where(artifact_versions.c.run_id == run_id)
    conn.execute(
        artifact_versions.update().where(artifact_versions.c.id.in_(produced)).values(run_id=None)
    )
    conn.execute(evaluations.update().where(evaluations.c.run_id == run_id).values(run_id=None))
    for table in (lineage, run_tags, batches, metric_chunks, metric_summary, run_cells, log_lines):
        conn.execute(table.delete().where(table.c.run_id == run_id))
    conn.execute(blob_refs.delete().where(blob_refs.c.owner == f"run:{run_id}"))
    conn.execute(runs.delete().where(runs.c.id == run_id))
    change = {"project": row.project, "artifact_versions": removed, "kept": kept}
    audit.append(conn, tx.actor, "run.purged", f"run:{run_id}", change)
    return removed, kept


def _purge_versions(conn: sa.Connection, run_id: str) -> tuple[int, int]:
    """Remove the artifact versions the run produced, except those still in use: registered
    as a model, named by an evaluation, or used by another run."""
    produced = [
        r
        for (r,) in conn.execute(
            sa.select(artifact_versions.c.id).where(artifact_versions.c.run_id == run_id)
        )
    ]
    busy = _in_use(conn, produced, run_id)
    doomed = [v for v in produced if v not in busy]
    if doomed:
        owners = sa.select(artifact_versions.c.artifact_id).where(
            artifact_versions.c.id.in_(doomed)
        )
        artifact_ids = [a for (a,) in conn.execute(owners.distinct())]
        conn.execute(artifact_aliases.delete().where(artifact_aliases.c.version_id.in_(doomed)))
        conn.execute(lineage.delete().where(lineage.c.version_id.in_(doomed)))
        conn.execute(blob_refs.delete().where(blob_refs.c.owner.in_(doomed)))
        conn.execute(artifact_versions.delete().where(artifact_versions.c.id.in_(doomed)))
        empty = sa.select(artifact_versions.c.id).where(
            artifact_versions.c.artifact_id == artifacts.c.id
        )
        conn.execute(artifacts.delete().where(artifacts.c.id.in_(artifact_ids), ~sa.exists(empty)))
    return len(doomed), len(busy)


def _in_use(conn: sa.Connection, versions: Sequence[str], run_id: str) -> set[str]:
    if not versions:
        return set()
    used: set[str] = set()
    queries = [
        sa.select(model_versions.c.artifact_version_id).where(
            model_versions.c.artifact_version_id.in_(versions)
        ),
        sa.select(evaluations.c.model_version_id).where(
            evaluations.c.model_version_id.in_(versions)
        ),
        sa.select(evaluations.c.dataset_version_id).where(
            evaluations.c.dataset_version_id.in_(versions)
        ),
        sa.select(lineage.c.version_id).where(
            lineage.c.version_id.in_(versions), lineage.c.run_id != run_id
        ),
    ]
    for query in queries:
        used.update(v for (v,) in conn.execute(query) if v is not None)
    return used
