"""``store.media`` on SQL: a batch's ``Media`` operations applied in its transaction (one
row per run, key and step; the last write of a step wins; the run holds the blobs), and
the rows read back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from assay.errors import InvalidInput, NotFound
from assay.records import Media, MediaKey, MediaRecord
from assay.store.facets.media import MAX_MEDIA_PAGE
from assay.store.sql import catalog
from assay.store.sql.schema import blob_refs, media, runs
from assay.store.sql.tx import Database, Tx


def add(tx: Tx, run_id: str, ops: list[Media]) -> float:
    """Record a batch's rich values; InvalidInput when one names a blob the store lacks
    or changes the kind a key holds. Returns the latest time among them."""
    last = {(op.key, op.step): op for op in ops}  # within a batch too, the last write wins
    digests = sorted({d for op in last.values() for d in op.blobs})
    absent = catalog.missing_blobs(tx.conn, digests)
    if absent:
        raise InvalidInput(
            f"media of run {run_id} name {len(absent)} blob(s) the store does not hold "
            f"(first {absent[0]}): store them through store.blobs first"
        )
    _check_kinds(tx.conn, run_id, list(last.values()))
    rows = [
        {
            "run_id": run_id,
            "key": op.key,
            "step": op.step,
            "at": op.at,
            "kind": op.kind,
            "body": op.body,
        }
        for op in last.values()
    ]
    stmt = tx.insert(media)
    excluded = stmt.excluded
    tx.conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key", "step"],
            set_={"at": excluded.at, "kind": excluded.kind, "body": excluded.body},
        ),
        rows,
    )
    if digests:
        owner = f"run:{run_id}"
        tx.conn.execute(
            tx.insert(blob_refs).on_conflict_do_nothing(),
            [{"owner": owner, "digest": d} for d in digests],
        )
    return max(op.at for op in ops)


def _check_kinds(conn: sa.Connection, run_id: str, ops: list[Media]) -> None:
    kinds: dict[str, str] = {}
    for op in ops:
        if kinds.setdefault(op.key, op.kind) != op.kind:
            raise InvalidInput(f"media key {op.key!r} gets both {kinds[op.key]} and {op.kind}")
    query = (
        sa.select(media.c.key, sa.func.min(media.c.kind))
        .where(media.c.run_id == run_id, media.c.key.in_(list(kinds)))
        .group_by(media.c.key)
    )
    for key, kind in conn.execute(query):
        if kinds[key] != kind:
            raise InvalidInput(
                f"media key {key!r} of run {run_id} holds {kind} values; a {kinds[key]} "
                "cannot be logged under it"
            )


class SqlMedia:
    def __init__(self, db: Database) -> None:
        self.db = db

    def keys(self, run_id: str) -> list[MediaKey]:
        query = (
            sa.select(
                media.c.key,
                sa.func.min(media.c.kind),
                sa.func.count(),
                sa.func.min(media.c.step),
                sa.func.max(media.c.step),
            )
            .where(media.c.run_id == run_id)
            .group_by(media.c.key)
            .order_by(media.c.key)
        )
        with self.db.read() as conn:
            _require_run(conn, run_id)
            return [
                MediaKey(key=k, kind=kind, count=n, first_step=lo, last_step=hi)
                for k, kind, n, lo, hi in conn.execute(query)
            ]

    def list(
        self,
        run_id: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = MAX_MEDIA_PAGE,
    ) -> list[MediaRecord]:
        if type(limit) is not int or not 0 < limit <= MAX_MEDIA_PAGE:
            raise InvalidInput(f"limit must be from 1 to {MAX_MEDIA_PAGE}, not {limit!r}")
        cond: list[Any] = [media.c.run_id == run_id, media.c.key == key]
        if start is not None:
            cond.append(media.c.step >= start)
        if end is not None:
            cond.append(media.c.step <= end)
        query = sa.select(media).where(*cond).order_by(media.c.step).limit(limit)
        with self.db.read() as conn:
            _require_run(conn, run_id)
            return [
                MediaRecord(
                    run_id=r.run_id, key=r.key, step=r.step, at=r.at, kind=r.kind, body=r.body
                )
                for r in conn.execute(query)
            ]


def _require_run(conn: sa.Connection, run_id: str) -> None:
    if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise NotFound(f"run {run_id} does not exist")
