"""The request log in SQL: one row per entry (model, request id), its inputs and outputs as
msgpack maps, indexed by (model, time) so a time range reads back in one index scan; the
(writer, seq) of every batch applied is claimed in ``request_batches``."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput
from assay.records import LabelResult, LoggedRequest, RequestBatch, RequestEntry
from assay.store.sql.schema import request_batches, request_log
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import check_time
from assay.values import check_text

MAX_ENTRIES = 100_000  # entries in one batch
MAX_LABELS = 100_000  # labels in one call
DAY = 86_400.0
_CHUNK = 500  # ids per IN (...) lookup
_encoder = msgspec.msgpack.Encoder()
_map_list = msgspec.msgpack.Decoder(list[dict[str, Any]])
_any = msgspec.msgpack.Decoder()


def check_entry(entry: RequestEntry, latest: float) -> None:
    """Everything a stored entry must be, or InvalidInput naming the field."""
    check_text("model name", entry.model, 128, single_line=True)
    check_text("request id", entry.request_id, 256, single_line=True)
    check_text("version", entry.version, 64, single_line=True)
    check_text("arm", entry.arm, 64, single_line=True)
    check_time(f"request {entry.request_id!r:.40} time", entry.time, latest)
    if type(entry.status) is not int or not 100 <= entry.status <= 599:
        raise InvalidInput(
            f"request {entry.request_id!r:.40}: status {entry.status!r} is not 100-599"
        )
    if not math.isfinite(entry.latency_ms) or entry.latency_ms < 0:
        raise InvalidInput(
            f"request {entry.request_id!r:.40}: latency_ms {entry.latency_ms!r} "
            "must be finite and at least 0"
        )


def check_batch(batch: RequestBatch, now: float) -> None:
    check_text("writer", batch.writer, 32, single_line=True)
    if type(batch.seq) is not int or batch.seq < 0:
        raise InvalidInput(f"batch seq {batch.seq!r} must be a whole number >= 0")
    if len(batch.entries) > MAX_ENTRIES:
        raise InvalidInput(f"a request-log batch holds at most {MAX_ENTRIES:,} entries")
    for entry in batch.entries:
        check_entry(entry, now + DAY)


def write_batch(tx: Tx, batch: RequestBatch, now: float) -> bool:
    claim = tx.insert(request_batches).on_conflict_do_nothing().returning(request_batches.c.seq)
    row = {"writer": batch.writer, "seq": batch.seq, "applied_at": now}
    if tx.conn.execute(claim, row).first() is None:
        return False  # delivered before: a replayed journal never duplicates
    if batch.entries:
        insert = tx.insert(request_log).on_conflict_do_nothing()
        tx.conn.execute(insert, [_row(entry) for entry in batch.entries])
    return True


def _row(entry: RequestEntry) -> dict[str, Any]:
    return {
        "model": entry.model,
        "request_id": entry.request_id,
        "time": entry.time,
        "version": entry.version,
        "arm": entry.arm,
        "status": entry.status,
        "latency_ms": entry.latency_ms,
        "inputs": _encoder.encode(entry.inputs),
        "outputs": _encoder.encode(entry.outputs),
    }


def check_labels(model: str, ids: Sequence[str], labels: Sequence[Any]) -> None:
    check_text("model name", model, 128, single_line=True)
    if len(ids) != len(labels):
        raise InvalidInput(
            f"{len(ids)} request ids but {len(labels)} labels: give one label per id"
        )
    if len(ids) > MAX_LABELS:
        raise InvalidInput(f"at most {MAX_LABELS:,} labels at once")
    for request_id in ids:
        check_text("request id", request_id, 256, single_line=True)
    try:
        for label in labels:
            _encoder.encode(label)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"a label cannot be stored: {exc}") from None


def label(tx: Tx, model: str, ids: Sequence[str], labels: Sequence[Any], now: float) -> LabelResult:
    latest = dict(zip(ids, labels, strict=True))  # an id given twice: its last label
    known: set[str] = set()
    wanted = list(latest)
    key = request_log.c.request_id
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        query = sa.select(key).where(request_log.c.model == model, key.in_(part))
        known.update(tx.conn.scalars(query))
    if known:
        update = (
            request_log.update()
            .where(request_log.c.model == model, key == sa.bindparam("rid"))
            .values(label=sa.bindparam("body"), labelled_at=now)
        )
        rows = [{"rid": i, "body": _encoder.encode(latest[i])} for i in wanted if i in known]
        tx.conn.execute(update, rows)
    unknown = [i for i in wanted if i not in known]
    return LabelResult(matched=len(wanted) - len(unknown), unknown=unknown)


def listing(  # noqa: PLR0917 - the filters of one read, in the facet's order
    conn: sa.Connection,
    model: str,
    version: str | None,
    arm: str | None,
    since: float | None,
    until: float | None,
    limit: int | None,
) -> list[LoggedRequest]:
    t = request_log.c
    query = sa.select(*_READ).where(t.model == model)
    if version is not None:
        query = query.where(t.version == version)
    if arm is not None:
        query = query.where(t.arm == arm)
    if since is not None:
        query = query.where(t.time >= since)
    if until is not None:
        query = query.where(t.time < until)
    if limit is None:
        rows = conn.execute(query.order_by(t.time, t.request_id)).all()
    else:
        newest = query.order_by(t.time.desc(), t.request_id.desc()).limit(limit)
        rows = conn.execute(newest).all()[::-1]
    return _logged(model, rows)


def by_id(conn: sa.Connection, request_id: str, model: str | None) -> list[LoggedRequest]:
    """The entries with this request id (of ``model`` only, when named)."""
    t = request_log.c
    query = sa.select(t.model, *_READ).where(t.request_id == request_id)
    if model is not None:
        query = query.where(t.model == model)
    rows = conn.execute(query.order_by(t.model)).all()
    return [_logged(r[0], [tuple(r[1:])])[0] for r in rows]


_READ = [
    request_log.c[name]
    for name in (
        "request_id",
        "time",
        "version",
        "arm",
        "status",
        "latency_ms",
        "inputs",
        "outputs",
        "label",
        "labelled_at",
    )
]


def _logged(model: str, rows: Sequence[tuple[Any, ...]]) -> list[LoggedRequest]:
    """Entries from rows; each column of msgpack maps is decoded in one call."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    inputs, outputs = _maps(columns[6]), _maps(columns[7])
    return [
        LoggedRequest(
            model=model,
            request_id=rid,
            time=at,
            version=version,
            arm=arm,
            status=status,
            latency_ms=latency,
            inputs=given,
            outputs=answered,
            label=None if label is None else _any.decode(label),
            labelled_at=labelled_at,
        )
        for (
            rid,
            at,
            version,
            arm,
            status,
            latency,
            _,
            _,
            label,
            labelled_at,
        ), given, answered in zip(rows, inputs, outputs, strict=True)
    ]


def _maps(blobs: Sequence[bytes]) -> list[dict[str, Any]]:
    """Many msgpack maps decoded at once: framed as one msgpack array (0xdd, u32 length)."""
    return _map_list.decode(b"\xdd" + len(blobs).to_bytes(4, "big") + b"".join(blobs))


class SqlRequests:
    """``store.requests`` on SQL: the facet over this module's functions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write_batch(self, batch: RequestBatch, actor: str | None = None) -> bool:
        now = time.time()
        check_batch(batch, now)
        with self.db.write("write request-log entries", actor) as tx:
            return write_batch(tx, batch, now)

    def label(
        self, model: str, ids: Sequence[str], labels: Sequence[Any], actor: str | None = None
    ) -> LabelResult:
        check_labels(model, ids, labels)
        with self.db.write("join labels", actor) as tx:
            return label(tx, model, ids, labels, time.time())

    def list(
        self,
        model: str,
        *,
        version: str | None = None,
        arm: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[LoggedRequest]:
        check_text("model name", model, 128, single_line=True)
        if limit is not None:
            check_page("limit", limit)
        for name, bound in (("since", since), ("until", until)):
            if bound is not None and not math.isfinite(bound):
                raise InvalidInput(f"{name} must be a finite time in seconds, not {bound!r}")
        with self.db.read() as conn:
            return listing(conn, model, version, arm, since, until, limit)
