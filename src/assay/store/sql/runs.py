"""``store.runs`` on SQL: batches applied (concurrent callers' together, in one
transaction: group commit), runs and their series read back (docs/architecture.md:
storage layout)."""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import Conflict, InvalidInput, NotFound
from assay.query.filter import parse_filter, parse_order
from assay.records import (
    Batch,
    Columns,
    CreateRun,
    Heartbeat,
    LogLine,
    LogLines,
    Media,
    MetricSummary,
    Points,
    Project,
    Run,
    RunEdit,
    UpdateRun,
)
from assay.store import series as ser
from assay.store.blobs import BlobStore
from assay.store.sql import audit, catalog, cells, run_admin, runs_groups, runs_page
from assay.store.sql import media as sql_media
from assay.store.sql.filters import FilterCompiler, status_expr
from assay.store.sql.group_commit import GroupCommit
from assay.store.sql.runs_groups import GroupStats
from assay.store.sql.schema import (
    batches,
    log_lines,
    metric_chunks,
    metric_summary,
    projects,
    run_tags,
    runs,
)
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import clean_batch
from assay.values import check_project, dotted

HEARTBEAT_TIMEOUT = 120.0  # seconds without a heartbeat before a running run reads as crashed
INLINE_DIFF_LIMIT = 64 * 1024  # a larger git diff goes to a blob
LARGE_CHUNK = 4096  # chunks at least this long are left alone; smaller ones get merged
MERGE_AFTER = 32  # how many small chunks of one series before they are merged into one
SERIES_RUNS_PER_QUERY = 100  # runs whose series one query reads (bound parameters stay few)
GROUP_POINTS = 1_000_000  # points one group-commit transaction takes (a larger write goes alone)


def heartbeat_timeout() -> float:
    return float(os.environ.get("ASSAY_HEARTBEAT_TIMEOUT", HEARTBEAT_TIMEOUT))


def store_clock() -> float:
    """The store's own time: when batches are applied, and what liveness is judged by
    (a client's clock may be minutes off)."""
    return time.time()


@dataclass(frozen=True)
class _Delivery:
    """One caller's batches (checked) and who delivers them."""

    batches: list[Batch]
    actor: str | None


class SqlRuns:
    """Runs, batches, series and console output in SQL; a large git diff goes to
    ``storage`` (the store's blob folder or bucket)."""

    def __init__(self, db: Database, storage: BlobStore) -> None:
        self.db = db
        self.storage = storage
        self._group: GroupCommit[_Delivery, list[bool]] = GroupCommit(self._commit, GROUP_POINTS)

    # ---- ingest --------------------------------------------------------------------------

    def now(self) -> float:
        """The store's time: this machine's for SQLite, the database server's for
        PostgreSQL (every client of one database then agrees on liveness)."""
        return store_clock() + self.db.clock_offset()

    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """Apply a batch in one transaction (shared with the batches other callers of this
        store deliver at the same moment: ``write_batches``)."""
        return self.write_batches([batch], actor)[0]

    def write_batches(self, batches: Sequence[Batch], actor: str | None = None) -> list[bool]:
        """Apply batches in order, all or none, in one transaction; False for each that
        was applied before. Every batch is checked before anything is written. The
        batches waiting from other callers at the same moment (a server's concurrent
        requests) go into the same transaction (group commit: one commit for many
        writers); each caller is answered once that transaction has committed, and a
        caller whose batches fail fails alone (its batches are tried again without the
        others')."""
        if not batches:
            return []
        self.db.writable("write a batch")
        now = self.now()
        cleaned = [clean_batch(batch, now) for batch in batches]
        size = sum(_points(batch) for batch in cleaned)
        return self._group.submit(_Delivery(cleaned, actor), size, key=actor or "")

    def _commit(self, deliveries: Sequence[_Delivery]) -> list[list[bool]]:
        """Deliveries of one actor in one transaction. The batches go in by run id (each
        run's in the order delivered), so two transactions lock runs in the same order."""
        applied = [[False] * len(d.batches) for d in deliveries]
        order = sorted(
            (batch.run_id, i, j)
            for i, delivery in enumerate(deliveries)
            for j, batch in enumerate(delivery.batches)
        )
        per_run = Counter(run_id for run_id, _, _ in order)
        quick = [
            (i, j)
            for run_id, i, j in order
            if per_run[run_id] == 1 and _points_only(deliveries[i].batches[j])
        ]
        with self.db.write("write a batch", deliveries[0].actor) as tx:
            now = self.now()
            projects = self._lock_runs(tx.conn, sorted(per_run))
            if quick:
                group = [deliveries[i].batches[j] for i, j in quick]
                fresh = self._write_points(tx, group, projects, now)
                for (i, j), new in zip(quick, fresh, strict=True):
                    applied[i][j] = new
            done = set(quick)
            for _, i, j in order:
                if (i, j) not in done:
                    applied[i][j] = self._write(tx, deliveries[i].batches[j], now)
        return applied

    def _lock_runs(self, conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, str]:
        """Hold the rows of the runs that exist among ``run_ids``, in id order (so that
        two transactions never wait on each other's runs), and answer their projects."""
        query = (
            sa.select(runs.c.id, runs.c.project)
            .where(runs.c.id.in_(run_ids))
            .order_by(runs.c.id)
            .with_for_update()
        )
        return {row.id: row.project for row in conn.execute(query)}

    def _write_points(
        self, tx: Tx, group: Sequence[Batch], projects: dict[str, str], now: float
    ) -> list[bool]:
        """Apply checked batches of points (and heartbeats) only, of runs each has to
        itself, their rows locked already: what ``_write`` does, each statement once for
        all of them. Whether each was new."""
        conn = tx.conn
        claims = [
            {"run_id": b.run_id, "writer": b.writer, "seq": b.seq, "applied_at": now} for b in group
        ]
        claim = tx.insert(batches).values(claims).on_conflict_do_nothing()
        claimed = set(conn.execute(claim.returning(batches.c.run_id)).scalars())
        fresh = [b for b in group if b.run_id in claimed]
        for batch in fresh:
            if batch.run_id not in projects:
                raise NotFound(
                    f"run {batch.run_id} does not exist (a batch arrived before its run)"
                )
        latest = {
            b.run_id: max((op.at for op in b.ops if isinstance(op, Heartbeat)), default=0.0)
            for b in fresh
        }
        points = [
            (b.run_id, projects[b.run_id], [op for op in b.ops if isinstance(op, Points)])
            for b in fresh
        ]
        for run_id, at in self._add_series(tx, points).items():
            latest[run_id] = max(latest[run_id], at)
        if latest:
            self._touch_all(conn, latest, now)
        return [b.run_id in claimed for b in group]

    def _write(self, tx: Tx, batch: Batch, now: float) -> bool:
        """Apply a checked batch: claim (run, writer, seq), create the run or lock its
        row (so batches of one run apply one after another on PostgreSQL too, and
        summaries never lose an update), then its fields, then its points."""
        conn = tx.conn
        claim = tx.insert(batches).on_conflict_do_nothing().returning(batches.c.seq)
        row = {"run_id": batch.run_id, "writer": batch.writer, "seq": batch.seq}
        if conn.execute(claim, {**row, "applied_at": now}).first() is None:
            return False  # delivered before: replaying a journal never duplicates
        latest = 0.0
        for op in batch.ops:
            if isinstance(op, CreateRun):
                latest = max(latest, self._apply(tx, batch.run_id, op, now))
        project = self._lock_run(conn, batch.run_id)
        for op in batch.ops:
            if not isinstance(op, Points | CreateRun | Media):
                latest = max(latest, self._apply(tx, batch.run_id, op, now))
        chunks = [op for op in batch.ops if isinstance(op, Points)]
        if chunks:
            latest = max(latest, self._add_points(tx, batch.run_id, project, chunks))
        rich = [op for op in batch.ops if isinstance(op, Media)]
        if rich:
            latest = max(latest, sql_media.add(tx, batch.run_id, rich))
        self._touch(conn, batch.run_id, latest, now)
        return True

    def _touch(self, conn: sa.Connection, run_id: str, latest: float, now: float) -> None:
        """``heartbeat_at`` keeps the writer's latest time (durations are measured on its
        clock); ``seen_at`` is the store's, for liveness."""
        greatest = sa.func.max if self.db.dialect == "sqlite" else sa.func.greatest
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(heartbeat_at=greatest(runs.c.heartbeat_at, latest), updated_at=now, seen_at=now)
        )

    def _touch_all(self, conn: sa.Connection, latest: dict[str, float], now: float) -> None:
        """``_touch`` for several runs, in one statement."""
        greatest = sa.func.max if self.db.dialect == "sqlite" else sa.func.greatest
        at = sa.bindparam("b_latest", type_=runs.c.heartbeat_at.type)
        conn.execute(
            runs.update()
            .where(runs.c.id == sa.bindparam("b_id"))
            .values(heartbeat_at=greatest(runs.c.heartbeat_at, at), updated_at=now, seen_at=now),
            [{"b_id": run_id, "b_latest": at_} for run_id, at_ in latest.items()],
        )

    def _apply(self, tx: Tx, run_id: str, op: Any, now: float) -> float:
        """Apply one op. Run creation, status changes, notes and tags go on the audit
        record; config and summary updates are the run's data, not changes to audit."""
        conn, actor = tx.conn, tx.actor
        target = f"run:{run_id}"
        if isinstance(op, CreateRun):
            if self._create_run(tx, run_id, op, now):  # a resumed run is not created again
                change = {"project": op.project, "name": op.name, "config": op.config}
                audit.append(conn, actor, "run.created", target, change)
            return op.created_at
        if isinstance(op, UpdateRun):
            self._update_run(tx, run_id, op, now)
            for field in ("status", "notes", "tags"):
                if (value := getattr(op, field)) is not None:
                    audit.append(conn, actor, f"run.{field}", target, {field: value})
            return op.at
        if isinstance(op, LogLines):
            if op.lines:
                conn.execute(
                    log_lines.insert(),
                    [{"run_id": run_id, "at": t, "stream": s, "text": x} for t, s, x in op.lines],
                )
            return max((t for t, _, _ in op.lines), default=0.0)
        if isinstance(op, Heartbeat):
            return op.at
        raise InvalidInput(f"unknown operation {type(op).__name__}")

    def _lock_run(self, conn: sa.Connection, run_id: str) -> str:
        """Hold the run's row to the end of the transaction (PostgreSQL; SQLite holds the
        whole store already) and answer its project, or NotFound."""
        query = sa.select(runs.c.project).where(runs.c.id == run_id).with_for_update()
        project = conn.execute(query).scalar()
        if project is None:
            raise NotFound(f"run {run_id} does not exist (a batch arrived before its run)")
        return str(project)

    def _create_run(self, tx: Tx, run_id: str, op: CreateRun, now: float) -> bool:
        conn = tx.conn
        conn.execute(
            tx.insert(projects).on_conflict_do_nothing(),
            {"name": op.project, "created_at": op.created_at},
        )
        values = {
            "id": run_id,
            "project": op.project,
            "name": op.name,
            "status": "running",
            "created_at": op.created_at,
            "updated_at": op.created_at,
            "heartbeat_at": op.created_at,
            "seen_at": now,
            "config": op.config,
            "summary": {},
            "notes": op.notes,
            "group_name": op.group,
            "job_type": op.job_type,
            "host": self._offload(tx, run_id, op.host),
        }
        inserted = conn.execute(
            tx.insert(runs).on_conflict_do_nothing().returning(runs.c.id), values
        ).first()
        if inserted is not None:
            cells.put_config(tx, run_id, op.project, op.config)
        self._set_tags(tx, run_id, op.tags, replace=False)
        return inserted is not None

    def _set_tags(self, tx: Tx, run_id: str, tags: list[str], replace: bool) -> None:
        if replace:
            tx.conn.execute(run_tags.delete().where(run_tags.c.run_id == run_id))
        if tags:
            tx.conn.execute(
                tx.insert(run_tags).on_conflict_do_nothing(),
                [{"run_id": run_id, "tag": t} for t in dict.fromkeys(tags)],
            )

    def _update_run(self, tx: Tx, run_id: str, op: UpdateRun, now: float) -> None:
        conn = tx.conn
        current = conn.execute(
            sa.select(
                runs.c.project,
                runs.c.config,
                runs.c.summary,
                runs.c.host,
                runs.c.status,
                sa.func.coalesce(runs.c.seen_at, runs.c.heartbeat_at).label("seen"),
            )
            .where(runs.c.id == run_id)
            .with_for_update()
        ).one()
        if op.status == "running":
            _claim(run_id, current.status, current.seen, now)
        values: dict[str, Any] = {}
        if op.config is not None:
            values["config"] = {**current.config, **op.config}
        if op.summary is not None:
            values["summary"] = {**current.summary, **op.summary}
        if op.host is not None:
            values["host"] = {**current.host, **self._offload(tx, run_id, op.host)}
        if op.notes is not None:
            values["notes"] = op.notes
        if op.traceback is not None:
            values["traceback"] = op.traceback
        if op.status is not None:
            values["status"] = op.status
            values["finished_at"] = None if op.status == "running" else op.at
        if values:
            conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
        if op.config is not None:
            cells.put_config(tx, run_id, current.project, values["config"])
        if op.summary is not None:
            cells.put_summary(tx, run_id, current.project, op.summary)
        if op.tags is not None:
            self._set_tags(tx, run_id, op.tags, replace=True)

    def _offload(self, tx: Tx, run_id: str, host: dict[str, Any]) -> dict[str, Any]:
        """Keep a large git diff as a blob held by the run, instead of inlining it."""
        git = host.get("git")
        if not isinstance(git, dict) or len(str(git.get("diff") or "")) <= INLINE_DIFF_LIMIT:
            return host
        data = str(git["diff"]).encode()
        digest = self.storage.put(data)
        catalog.hold_blob(tx, f"run:{run_id}", digest, len(data))
        slim = {k: v for k, v in git.items() if k != "diff"}
        return {**host, "git": {**slim, "diff_blob": digest}}

    def _add_points(self, tx: Tx, run_id: str, project: str, ops: list[Points]) -> float:
        """All of a batch's series at once (``_add_series``); the latest time among them."""
        return self._add_series(tx, [(run_id, project, ops)]).get(run_id, 0.0)

    def _add_series(
        self, tx: Tx, writes: Sequence[tuple[str, str, list[Points]]]
    ) -> dict[str, float]:
        """The series of several runs (run id, project, its points; a run once) at once:
        one insert of chunks, one read and one upsert of their summaries. A summary
        always describes the history as read back (one point per step, the last write
        wins): a chunk that only appends updates it; one that reaches back to steps
        already stored has it recomputed from the series. Each run's latest time."""
        conn = tx.conn
        decoded: list[tuple[str, str, Points, Columns]] = []
        for run_id, project, ops in writes:
            series = [(op, Columns.from_bytes(op.steps, op.times, op.values)) for op in ops]
            series = [(op, c) for op, c in series if len(c.steps)]
            keys = [op.key for op, _ in series]
            if len(set(keys)) != len(keys):
                raise InvalidInput("a batch may carry one set of points per key; merge them first")
            decoded += [(run_id, project, op, c) for op, c in series]
        if not decoded:
            return {}
        conn.execute(metric_chunks.insert(), [_chunk_row(r, op, c) for r, _, op, c in decoded])
        run_ids = sorted({r for r, _, _, _ in decoded})
        keys = sorted({op.key for _, _, op, _ in decoded})
        old = {
            (m["run_id"], m["key"]): m
            for m in conn.execute(
                sa.select(metric_summary).where(
                    metric_summary.c.run_id.in_(run_ids), metric_summary.c.key.in_(keys)
                )
            ).mappings()
        }
        rows = [self._summary(conn, r, op.key, c, old.get((r, op.key))) for r, _, op, c in decoded]
        for row in rows:
            if row["open_chunks"] >= MERGE_AFTER:
                self._merge_tail(conn, row["run_id"], row["key"], row["open_chunks"])
                row["open_chunks"] = 1
        upsert = tx.insert(metric_summary)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["run_id", "key"],
                set_={c: upsert.excluded[c] for c in rows[0] if c not in ("run_id", "key")},
            ),
            rows,
        )
        lasts: dict[tuple[str, str], dict[str, float | None]] = {}
        latest: dict[str, float] = {}
        for (run_id, project, op, columns), row in zip(decoded, rows, strict=True):
            lasts.setdefault((run_id, project), {})[op.key] = row["last"]
            latest[run_id] = max(latest.get(run_id, 0.0), float(columns.times.max()))
        cells.put_metrics_of(tx, [(r, p, keyed) for (r, p), keyed in lasts.items()])
        return latest

    def _summary(
        self, conn: sa.Connection, run_id: str, key: str, chunk: Columns, prev: Any
    ) -> dict[str, Any]:
        """The (run, key) summary after this chunk (already inserted), given the stored
        one (or None)."""
        small = len(chunk.steps) < LARGE_CHUNK
        opened = 1 if small else 0
        if prev is not None and small:
            opened += prev["open_chunks"]
        merged = ser.merge([chunk])  # sorted by step, one point per step
        if prev is None or int(merged.steps[0]) > prev["last_step"]:
            return _summary_row(run_id, key, merged, prev, opened)
        whole = self._history(conn, run_id, [key]).get(key)
        assert whole is not None  # the chunk itself was just inserted
        return _summary_row(run_id, key, whole, None, opened)

    def _merge_tail(self, conn: sa.Connection, run_id: str, key: str, count: int) -> None:
        """Merge the newest ``count`` small chunks of a series into one (order is kept:
        nothing newer than them exists, so last-write-wins reads the same)."""
        newest_first = conn.execute(
            sa.select(metric_chunks)
            .where(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key)
            .order_by(metric_chunks.c.id.desc())
            .limit(count)
        ).all()
        rows = list(reversed(newest_first))
        merged = ser.merge([Columns.from_bytes(r.steps, r.times, r.values) for r in rows])
        conn.execute(metric_chunks.delete().where(metric_chunks.c.id.in_([r.id for r in rows])))
        steps, times, values = merged.to_bytes()
        op = Points(key=key, steps=steps, times=times, values=values)
        conn.execute(metric_chunks.insert(), _chunk_row(run_id, op, merged))

    def ensure_project(self, name: str, actor: str | None = None) -> bool:
        """Create an empty project (a run creates its project too); False if it existed.
        A SQL store's own operation: the MLflow API's create-experiment uses it."""
        check_project(name)
        with self.db.write("create a project", actor) as tx:
            created = tx.conn.execute(
                tx.insert(projects).on_conflict_do_nothing().returning(projects.c.name),
                {"name": name, "created_at": self.now()},
            ).first()
            if created is not None:
                audit.append(tx.conn, tx.actor, "project.created", f"project:{name}", {})
            return created is not None

    # ---- management (store/sql/run_admin.py) --------------------------------------------

    def update(self, run_id: str, edit: RunEdit, actor: str | None = None) -> Run:
        run_admin.check_edit(edit)
        with self.db.write("edit a run", actor) as tx:
            run_admin.edit(tx, run_id, edit)
        return self.get(run_id)

    def delete(self, run_id: str, actor: str | None = None, *, with_artifacts: bool = False) -> Run:
        with self.db.write("delete a run", actor) as tx:
            run_admin.delete(tx, run_id, self.now(), with_artifacts=with_artifacts)
        return self.get(run_id)

    def restore(self, run_id: str, actor: str | None = None) -> Run:
        with self.db.write("restore a run", actor) as tx:
            run_admin.restore(tx, run_id)
        return self.get(run_id)

    def move(self, run_id: str, project: str, actor: str | None = None) -> Run:
        with self.db.write("move a run", actor) as tx:
            run_admin.move(tx, run_id, project, self.now())
        return self.get(run_id)

    def purge(
        self, older_than: float = run_admin.RUN_RETENTION, dry_run: bool = True
    ) -> run_admin.PurgeReport:
        """Remove runs deleted more than ``older_than`` seconds ago, for good (their
        series, logs, tags and lineage; the artifact versions they produced if deleted
        ``with_artifacts`` and nothing else uses them). Their blobs are left to the blob
        gc that follows."""
        if older_than < 0:
            raise InvalidInput(f"older_than {older_than} must not be negative")
        before = self.now() - older_than
        with self.db.read() as conn:
            doomed = run_admin.due(conn, before)
        if dry_run:
            return run_admin.PurgeReport(
                dry_run=True, runs=doomed, artifact_versions=0, kept_versions=0
            )
        purged: list[str] = []
        removed = kept = 0
        for run_id in doomed:
            with self.db.write("purge a deleted run") as tx:
                done = run_admin.purge(tx, run_id, before)
            if done is not None:
                purged.append(run_id)
                removed, kept = removed + done[0], kept + done[1]
        return run_admin.PurgeReport(
            dry_run=False, runs=purged, artifact_versions=removed, kept_versions=kept
        )

    # ---- reads ---------------------------------------------------------------------------

    def projects(self) -> list[Project]:
        query = (
            sa.select(
                projects.c.name,
                projects.c.created_at,
                sa.func.count(runs.c.id),
                sa.func.max(runs.c.updated_at),
            )
            .select_from(
                projects.outerjoin(
                    runs, sa.and_(runs.c.project == projects.c.name, runs.c.deleted_at.is_(None))
                )
            )
            .group_by(projects.c.name, projects.c.created_at)
            .order_by(projects.c.name)
        )
        with self.db.read() as conn:
            return [
                Project(name=r[0], run_count=int(r[2]), created_at=r[1], last_activity=r[3])
                for r in conn.execute(query)
            ]

    def project_of(self, run_id: str) -> str:
        """The project a run belongs to (NotFound if there is no such run)."""
        with self.db.read() as conn:
            project = conn.execute(sa.select(runs.c.project).where(runs.c.id == run_id)).scalar()
        if project is None:
            raise NotFound(f"no run with id {run_id!r}")
        return str(project)

    def get(self, run_id: str) -> Run:
        with self.db.read() as conn:
            rows = conn.execute(self._run_select().where(runs.c.id == run_id)).all()
            if not rows:
                raise NotFound(f"no run with id {run_id!r}")
            return self._hydrate(conn, rows)[0]

    def count(self, project: str, filter: str | None = None, *, deleted: bool = False) -> int:
        with self.db.read() as conn:
            return self._count(conn, project, filter, deleted)

    def _count(self, conn: sa.Connection, project: str, filter: str | None, deleted: bool) -> int:
        where = self._where(project, filter, deleted)
        return int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())

    def _where(
        self, project: str, filter: str | None, deleted: bool = False
    ) -> list[sa.ColumnElement[bool]]:
        shown = runs.c.deleted_at.is_not(None) if deleted else runs.c.deleted_at.is_(None)
        clauses = [runs.c.project == project, shown]
        if filter:
            compiler = FilterCompiler(filter, self._cutoff(), self.db.dialect, project)
            clauses.append(compiler.compile(parse_filter(filter)))
        return clauses

    def _cutoff(self) -> float:
        return self.now() - heartbeat_timeout()

    def _run_select(self) -> sa.Select[Any]:
        return sa.select(runs, status_expr(self._cutoff()).label("shown_status"))

    def _hydrate(self, conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[Run]:
        ids = [r.id for r in rows]
        tags: dict[str, list[str]] = {i: [] for i in ids}
        metrics: dict[str, dict[str, MetricSummary]] = {i: {} for i in ids}
        if ids:
            for t in conn.execute(sa.select(run_tags).where(run_tags.c.run_id.in_(ids))):
                tags[t.run_id].append(t.tag)
            m = metric_summary.c
            query = sa.select(m.run_id, m.key, m.last, m.min, m.max, m.count, m.last_step)
            # plain tuples, unpacked: a run of 10,000 keys hydrates in milliseconds
            for run_id, key, last, low, high, count, last_step in conn.execute(
                query.where(m.run_id.in_(ids))
            ).all():
                metrics[run_id][key] = MetricSummary(
                    last=_py_float(last),
                    min=_py_float(low),
                    max=_py_float(high),
                    count=count,
                    last_step=last_step,
                )
        return [
            Run(
                id=r.id,
                project=r.project,
                name=r.name,
                status=r.shown_status,
                created_at=r.created_at,
                updated_at=r.updated_at,
                heartbeat_at=r.heartbeat_at,
                finished_at=r.finished_at,
                config=r.config,
                summary=r.summary,
                tags=sorted(tags[r.id]),
                notes=r.notes,
                group=r.group_name,
                job_type=r.job_type,
                host=r.host,
                metrics=metrics[r.id],
                traceback=r.traceback,
                deleted_at=r.deleted_at,
            )
            for r in rows
        ]

    def history(self, run_id: str, keys: Sequence[str] | None = None) -> dict[str, Columns]:
        with self.db.read() as conn:
            return self._history(conn, run_id, keys)

    def _history(
        self, conn: sa.Connection, run_id: str, keys: Sequence[str] | None
    ) -> dict[str, Columns]:
        query = sa.select(
            metric_chunks.c.key,
            metric_chunks.c.steps,
            metric_chunks.c.times,
            metric_chunks.c["values"],
        ).where(metric_chunks.c.run_id == run_id)
        if keys is not None:
            query = query.where(metric_chunks.c.key.in_(list(keys)))
        query = query.order_by(metric_chunks.c.key, metric_chunks.c.id)
        chunks: dict[str, list[Columns]] = {}
        for key, steps, times, values in conn.execute(query):
            chunks.setdefault(key, []).append(Columns.from_bytes(steps, times, values))
        return {key: ser.merge(parts) for key, parts in chunks.items()}

    def series(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        points: int = 1000,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[tuple[str, str], Columns]:
        """Downsampled series of every (run, key) asked for; only the chunks that reach
        into [start, end] are read, a query per SERIES_RUNS_PER_QUERY runs."""
        if points < 4:
            raise InvalidInput(f"points must be at least 4, not {points}")
        start, end = _step_bound(start), _step_bound(end)
        out: dict[tuple[str, str], Columns] = {}
        unique = list(dict.fromkeys(run_ids))
        with self.db.read() as conn:
            for at in range(0, len(unique), SERIES_RUNS_PER_QUERY):
                group = unique[at : at + SERIES_RUNS_PER_QUERY]
                for (run_id, key), full in self._windowed(conn, group, keys, start, end).items():
                    out[(run_id, key)] = ser.downsample(ser.window(full, start, end), points)
        return out

    def _windowed(
        self,
        conn: sa.Connection,
        run_ids: Sequence[str],
        keys: Sequence[str],
        start: int | None,
        end: int | None,
    ) -> dict[tuple[str, str], Columns]:
        """Each series of these runs, read from the chunks that hold steps in [start, end]
        only (every chunk knows its first and last step); a series with none there is
        empty. One query for all the runs (two with a window)."""
        c = metric_chunks.c
        named = (c.run_id.in_(list(run_ids)), c.key.in_(list(keys)))
        bounds = [c.step_max >= start] if start is not None else []
        bounds += [c.step_min <= end] if end is not None else []
        query = (
            sa.select(c.run_id, c.key, c.steps, c.times, c["values"])
            .where(*named, *bounds)
            .order_by(c.run_id, c.key, c.id)
        )
        chunks: dict[tuple[str, str], list[Columns]] = {}
        if bounds:  # the series with no chunk in the window
            held = sa.select(c.run_id, c.key).where(*named).distinct()
            chunks = {(run_id, key): [] for run_id, key in conn.execute(held)}
        for run_id, key, steps, times, values in conn.execute(query):
            chunks.setdefault((run_id, key), []).append(Columns.from_bytes(steps, times, values))
        return {series: ser.merge(parts) for series, parts in chunks.items()}

    def heads(self, run_ids: Sequence[str]) -> dict[str, RunHead]:
        """The project, name and shown status of each run that exists, in one query
        (what a chart needs of its runs, without their config or summaries). A SQL
        store's own operation: the UI's chart data uses it."""
        query = sa.select(
            runs.c.id, runs.c.project, runs.c.name, status_expr(self._cutoff())
        ).where(runs.c.id.in_(list(dict.fromkeys(run_ids))))
        with self.db.read() as conn:
            return {
                r[0]: RunHead(project=r[1], name=r[2], status=r[3]) for r in conn.execute(query)
            }

    def metric_keys(self, run_ids: Sequence[str], kind: str = "all", search: str = "") -> list[str]:
        """The metric keys the runs logged, sorted, in one query: ``user`` ones,
        ``system/*`` ones or ``all``; only those whose names hold every word of
        ``search`` (any case). A SQL store's own operation (the UI's charts page them)."""
        if kind not in ("all", "user", "system"):
            raise InvalidInput(f"kind is one of all, user, system; not {kind!r}")
        key = metric_summary.c.key
        query = sa.select(key).where(metric_summary.c.run_id.in_(list(dict.fromkeys(run_ids))))
        system = key.startswith("system/", autoescape=True)
        if kind != "all":
            query = query.where(system if kind == "system" else ~system)
        words = search.lower().split()  # matched here: SQLite's lower() knows ASCII only
        with self.db.read() as conn:
            found = {k for (k,) in conn.execute(query.distinct())}
        return sorted(k for k in found if all(w in k.lower() for w in words))

    def config_keys(self, project: str, sample: int = 500) -> list[str]:
        """Dotted config keys of the project's newest ``sample`` runs, sorted."""
        with self.db.read() as conn:
            return sorted(
                {
                    k
                    for config, _ in conn.execute(self._newest(project, sample))
                    for k in dotted(config)
                }
            )

    def project_keys(self, project: str, sample: int = 500) -> tuple[list[str], list[str]]:
        """(dotted config keys of the newest ``sample`` runs, every summary key of the
        project: each metric key, each key of a summary the user set, and the summary keys
        of those runs). The project's summary keys are read from the run cells' index, one
        seek per key however many runs hold it; the column picker asks for them when it
        is opened, not the runs page."""
        with self.db.read() as conn:
            newest = conn.execute(self._newest(project, sample)).all()
            every = {k for (k,) in conn.execute(cells.keys(project, cells.SUMMARY))}
        config_keys = {k for config, _ in newest for k in dotted(config)}
        summary_keys = {k for _, summary in newest for k in summary}
        return sorted(config_keys), sorted(every | summary_keys)

    def _newest(self, project: str, sample: int) -> sa.Select[Any]:
        return (
            sa.select(runs.c.config, runs.c.summary)
            .where(runs.c.project == project, runs.c.deleted_at.is_(None))
            .order_by(runs.c.created_at.desc())
            .limit(sample)
        )

    def group_stats(
        self,
        project: str,
        filter: str | None,
        group: str,
        columns: Sequence[str],
        *,
        deleted: bool = False,
        keep: Callable[[Any], bool] | None = None,
    ) -> list[GroupStats]:
        """Per value of ``group`` (group, job_type, tags or config.<key>), the number of
        runs the filter matches and the mean, min and max of each numeric ``summary.*``
        column over all of them, largest group first: the 1,000 largest, or with
        ``keep`` those whose values it keeps. A SQL store's own operation: the runs
        table's group statistics use it."""
        compiler = FilterCompiler(filter or "", self._cutoff(), self.db.dialect, project)
        where = self._where(project, filter, deleted)
        with self.db.read() as conn:
            return runs_groups.group_stats(conn, where, compiler, group, columns, keep=keep)

    def log_lines(self, run_id: str, tail: int | None = None) -> list[LogLine]:
        query = sa.select(log_lines.c.at, log_lines.c.stream, log_lines.c.text).where(
            log_lines.c.run_id == run_id
        )
        if tail is not None:
            check_page("tail", tail)
            query = query.order_by(log_lines.c.id.desc()).limit(tail)
        else:
            query = query.order_by(log_lines.c.id)
        with self.db.read() as conn:
            lines = [LogLine(at=r.at, stream=r.stream, text=r.text) for r in conn.execute(query)]
        return lines[::-1] if tail is not None else lines

    def page(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
        *,
        deleted: bool = False,
        count_up_to: int | None = None,
    ) -> tuple[int, list[Run]]:
        """(how many runs the filter matches, one page of them) in one read; only the
        page's runs are read in full. With ``count_up_to``, a filter that keeps many runs
        is counted only that far: a total of ``count_up_to + 1`` means "more than
        ``count_up_to``" (the runs table shows that at once and asks for the exact count
        apart). How a filtered page is found: store/sql/runs_page.py. A SQL store's own
        operation: the runs table uses it."""
        check_page("limit", limit)
        check_page("offset", offset)
        scope = runs_page.Scope(project, tuple(self._where(project, None, deleted)))
        per_run = FilterCompiler(filter or "", self._cutoff(), self.db.dialect)
        where = [*scope.clauses, *([per_run.compile(parse_filter(filter))] if filter else [])]
        with self.db.read() as conn:
            ids = runs_page.walked(
                conn, per_run, scope, where=where, order_by=order_by, page=(limit, offset)
            )
            if ids is None and filter:
                total, found = self._page_by_sets(
                    conn, project, filter, order_by=order_by, page=(limit, offset), deleted=deleted
                )
            else:
                if ids is None:  # no filter: the project's runs in the order asked for
                    found = self._listed(conn, where, order_by, (limit, offset))
                else:
                    found = self._hydrate_ids(conn, ids)
                counted = None
                if count_up_to is not None and filter:
                    counted = runs_page.counted(conn, scope, where, count_up_to)
                total = self._count(conn, project, filter, deleted) if counted is None else counted
        if count_up_to is not None and filter:
            total = min(total, count_up_to + 1)
        return total, found

    def _page_by_sets(
        self,
        conn: sa.Connection,
        project: str,
        filter: str,
        *,
        order_by: Sequence[str],
        page: tuple[int, int],
        deleted: bool,
    ) -> tuple[int, list[Run]]:
        """The page and its exact count in one pass over the project's runs, each probed
        against the sets of runs the filter's comparisons pass (a filter on cells costs a
        lookup per run and per field; two passes would cost twice as much)."""
        limit, offset = page
        matching = sa.select(runs.c.id, sa.func.count().over()).where(
            *self._where(project, filter, deleted)
        )
        found = conn.execute(self._ordered(matching, order_by).limit(limit).offset(offset)).all()
        if found:
            return int(found[0][1]), self._hydrate_ids(conn, [i for i, _ in found])
        # nothing matches, or the page is past the end of what does
        return (self._count(conn, project, filter, deleted) if offset else 0), []

    def _listed(
        self,
        conn: sa.Connection,
        where: Sequence[sa.ColumnElement[bool]],
        order_by: Sequence[str],
        page: tuple[int, int],
    ) -> list[Run]:
        """One page of the runs ``where`` keeps, in the order of ``order_by``, read in full."""
        query = self._ordered(self._run_select().where(*where), order_by)
        return self._hydrate(conn, conn.execute(query.limit(page[0]).offset(page[1])).all())

    def _hydrate_ids(self, conn: sa.Connection, ids: Sequence[str]) -> list[Run]:
        """The runs of ``ids``, read in full, in that order."""
        by_id = {r.id: r for r in conn.execute(self._run_select().where(runs.c.id.in_(ids)))}
        return self._hydrate(conn, [by_id[i] for i in ids])

    def list(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
        *,
        deleted: bool = False,
    ) -> list[Run]:
        check_page("limit", limit)
        check_page("offset", offset)
        where = self._where(project, filter, deleted)
        with self.db.read() as conn:
            return self._listed(conn, where, order_by, (limit, offset))

    def _ordered(self, query: sa.Select[Any], order_by: Sequence[str]) -> sa.Select[Any]:
        """``query`` in the order of ``order_by`` (newest first by default), then by id."""
        compiler = FilterCompiler("", self._cutoff(), self.db.dialect)
        for spec in order_by or ("-created",):
            field, descending = parse_order(spec)
            column = compiler.order_field(field)
            query = query.order_by(
                column.desc().nulls_last() if descending else column.asc().nulls_last()
            )
        return query.order_by(runs.c.id.desc())


class RunHead(msgspec.Struct, kw_only=True, frozen=True):
    """What a chart shows of a run beside its series."""

    project: str
    name: str
    status: str


def _claim(run_id: str, status: str, seen: float, now: float) -> None:
    """Setting a run's status back to running is how a writer resumes it: refused while
    another writer is alive (heard from within the heartbeat timeout), so two processes
    resuming one run at once cannot both go on. The run's row is locked here, so of two
    claims one sees the other's."""
    if status == "running" and seen >= now - heartbeat_timeout():
        raise Conflict(
            f"run {run_id} is running and its writer was heard from {max(now - seen, 0):.0f} s "
            "ago (by the store's clock): another process is writing it, and two writers "
            "would overwrite each other's steps"
        )


def _points_only(batch: Batch) -> bool:
    """A batch of points and heartbeats only (``_write_points`` takes it)."""
    return all(isinstance(op, Points | Heartbeat) for op in batch.ops)


def _points(batch: Batch) -> int:
    """A batch's size in a group commit: its points, plus one (a batch of other ops)."""
    return sum(op.count for op in batch.ops if isinstance(op, Points)) + 1


def _step_bound(step: int | None) -> int | None:
    """A step window's bound, clamped to the steps a series can hold (64-bit)."""
    if step is None:
        return None
    return max(-(2**63), min(int(step), 2**63 - 1))


def _chunk_row(run_id: str, op: Points, chunk: Columns) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "key": op.key,
        "n": len(chunk.steps),
        "step_min": int(chunk.steps.min()),
        "step_max": int(chunk.steps.max()),
        "steps": op.steps,
        "times": op.times,
        "values": op.values,
    }


def _summary_row(
    run_id: str, key: str, series: Columns, prev: Any, open_chunks: int
) -> dict[str, Any]:
    """The summary of ``series`` (one point per step), appended to ``prev`` when given:
    then every step of the series comes after the stored ones."""
    last, low, high, last_step = ser.summarise(series)
    row: dict[str, Any] = {
        "run_id": run_id,
        "key": key,
        "last": _sql_float(last),
        "min": _sql_float(low),
        "max": _sql_float(high),
        "count": len(series.steps),
        "last_step": last_step,
        "open_chunks": open_chunks,
    }
    if prev is not None:
        row["min"] = _sql_float(_fmin(prev["min"], low))
        row["max"] = _sql_float(_fmax(prev["max"], high))
        row["count"] += prev["count"]
    return row


def _sql_float(value: float) -> float | None:
    return None if math.isnan(value) else value  # SQLite cannot store NaN: NULL stands for it


def _py_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _fmin(old: float | None, new: float) -> float:
    if old is None or math.isnan(new):
        return new if old is None else old
    return min(old, new)


def _fmax(old: float | None, new: float) -> float:
    if old is None or math.isnan(new):
        return new if old is None else old
    return max(old, new)
