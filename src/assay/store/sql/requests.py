"""The request log in SQL: one row per request (model, request id) however many rows it
had, its inputs and outputs as msgpack maps of columns (``{name: [value per row]}``, or
``{name: packed column}`` for the numeric and datetime arrays a server writes: see
assay/packed.py; encoded once per request, unpacked into lists when read), indexed by
(model, time) so a time range reads back in one index scan; labels in
``request_labels``, per row or (row -1) for the whole request; the (writer, seq) of
every batch applied is claimed in ``request_batches``.

Request ids as readers show them: ``<id>`` for a request of one row (or none), ``<id>/0``
... ``<id>/<n-1>`` for the rows of a request of n; labels are joined by either."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay import packed
from assay.errors import InvalidInput
from assay.records import LabelResult, LoggedRequest, RequestBatch, RequestEntry, RequestLabel
from assay.store.sql.schema import request_batches, request_labels, request_log
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import check_time
from assay.values import check_text

MAX_ENTRIES = 100_000  # entries in one batch
MAX_ROWS = 1_000_000  # rows in one entry
MAX_LABELS = 100_000  # labels in one call
DAY = 86_400.0
WHOLE = -1  # the row index of a label for every row of a request
_CHUNK = 500  # ids per IN (...) lookup
_ROW_ID = re.compile(r"(.+)/(0|[1-9][0-9]*)")  # a row of a request of several: <id>/<i>
_encoder = msgspec.msgpack.Encoder()
_map_list = msgspec.msgpack.Decoder(list[dict[str, Any]])
_any = msgspec.msgpack.Decoder()


def check_entry(entry: RequestEntry, latest: float) -> None:
    """Everything a stored entry must be, or InvalidInput naming the field."""
    check_text("model name", entry.model, 128, single_line=True)
    check_text("request id", entry.request_id, 256, single_line=True)
    check_text("version", entry.version, 64, single_line=True)
    check_text("arm", entry.arm, 64, single_line=True)
    named = f"request {entry.request_id!r:.40}"
    check_time(f"{named} time", entry.time, latest)
    if type(entry.status) is not int or not 100 <= entry.status <= 599:
        raise InvalidInput(f"{named}: status {entry.status!r} is not 100-599")
    if not math.isfinite(entry.latency_ms) or entry.latency_ms < 0:
        raise InvalidInput(
            f"{named}: latency_ms {entry.latency_ms!r} must be finite and at least 0"
        )
    rows = entry.rows
    if rows is not None and (type(rows) is not int or not 0 <= rows <= MAX_ROWS):
        raise InvalidInput(f"{named}: rows {rows!r} is not a whole number 0-{MAX_ROWS:,}")
    for kind, columns in (("input", entry.inputs), ("output", entry.outputs)):
        for name, values in columns.items():
            if rows is None:  # the one-row form of earlier versions: {name: value}
                if packed.is_packed(values):
                    raise InvalidInput(f"{named}: {kind} {name!r:.40} is packed without rows")
            elif _length(values) != rows:
                raise InvalidInput(
                    f"{named}: {kind} {name!r:.40} must be a list (or packed column) of "
                    f"{rows} values, one per row"
                )


def _length(values: Any) -> int | None:
    """The rows a column holds: a list's length, a packed column's rows (None for
    anything else, a damaged packed column included)."""
    if isinstance(values, list):
        return len(values)
    if type(values) is msgspec.msgpack.Ext:
        try:
            return packed.rows_of(values)
        except ValueError:
            return None
    return None


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
    rows, inputs, outputs = entry.rows, entry.inputs, entry.outputs
    if rows is None:  # one row as {name: value}: as columns of one value
        rows = 1 if inputs or outputs else 0
        inputs = {name: [value] for name, value in inputs.items()}
        outputs = {name: [value] for name, value in outputs.items()}
    return {
        "model": entry.model,
        "request_id": entry.request_id,
        "time": entry.time,
        "version": entry.version,
        "arm": entry.arm,
        "status": entry.status,
        "latency_ms": entry.latency_ms,
        "row_count": rows,
        "inputs": _encoder.encode(inputs),
        "outputs": _encoder.encode(outputs),
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


def row_of(request_id: str) -> tuple[str, int] | None:
    """``("r", 3)`` for ``"r/3"``: the request and row an id may name; None for others."""
    found = _ROW_ID.fullmatch(request_id)
    return None if found is None else (found[1], int(found[2]))


def resolve(conn: sa.Connection, model: str, ids: Iterable[str]) -> dict[str, tuple[str, int]]:
    """The (request id, row index) each id names: a request's own id names the whole
    request (row -1), ``<id>/<i>`` row i of a request of at least two rows. Ids that
    name nothing are left out."""
    wanted = list(ids)
    rows = {i: row_of(i) for i in wanted}
    asked = set(wanted) | {r[0] for r in rows.values() if r is not None}
    counts = _row_counts(conn, model, asked)
    named = {}
    for i in wanted:
        row = rows[i]
        if i in counts:
            named[i] = (i, WHOLE)
        elif row is not None and counts.get(row[0], 0) >= 2 and row[1] < counts[row[0]]:
            named[i] = row
    return named


def _row_counts(conn: sa.Connection, model: str, ids: set[str]) -> dict[str, int]:
    t = request_log.c
    wanted = sorted(ids)
    counts: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        query = sa.select(t.request_id, t.row_count).where(t.model == model, t.request_id.in_(part))
        counts.update({rid: n for rid, n in conn.execute(query)})
    return counts


def label(tx: Tx, model: str, ids: Sequence[str], labels: Sequence[Any], now: float) -> LabelResult:
    latest = dict(zip(ids, labels, strict=True))  # an id given twice: its last label
    wanted = list(latest)
    named = resolve(tx.conn, model, wanted)
    if named:
        insert = tx.insert(request_labels)
        upsert = insert.on_conflict_do_update(
            index_elements=["model", "request_id", "row_index"],
            set_={"label": insert.excluded.label, "labelled_at": insert.excluded.labelled_at},
        )
        rows = [
            {
                "model": model,
                "request_id": rid,
                "row_index": index,
                "label": _encoder.encode(latest[i]),
                "labelled_at": now,
            }
            for i, (rid, index) in named.items()
        ]
        tx.conn.execute(upsert, rows)
    unknown = [i for i in wanted if i not in named]
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
    chosen: list[sa.ColumnElement[bool]] = [t.model == model]
    if version is not None:
        chosen.append(t.version == version)
    if arm is not None:
        chosen.append(t.arm == arm)
    if since is not None:
        chosen.append(t.time >= since)
    if until is not None:
        chosen.append(t.time < until)
    query = sa.select(*_READ).where(*chosen)
    if limit is None:
        rows = conn.execute(query.order_by(t.time, t.request_id)).all()
    else:
        newest = query.order_by(t.time.desc(), t.request_id.desc()).limit(limit)
        rows = conn.execute(newest).all()[::-1]
    if not rows:
        return []
    joined = request_log.join(
        request_labels,
        sa.and_(request_labels.c.model == t.model, request_labels.c.request_id == t.request_id),
    )
    labelled = sa.select(*_LABELS).select_from(joined).where(*chosen)
    if limit is not None:
        labelled = labelled.where(t.time >= rows[0][1])
    return _logged(model, rows, _labels_by_id(conn.execute(labelled).all()))


def by_id(conn: sa.Connection, request_id: str, model: str | None) -> list[LoggedRequest]:
    """The requests with this id (of ``model`` only, when named); for ``<id>/<i>``, a row
    of a request of several, that row alone as a request of one row with this id."""
    t = request_log.c
    query = sa.select(t.model, *_READ).where(t.request_id == request_id)
    if model is not None:
        query = query.where(t.model == model)
    rows = conn.execute(query.order_by(t.model)).all()
    if rows:
        return [_one(conn, r[0], r[1:]) for r in rows]
    row = row_of(request_id)
    if row is None:
        return []
    base, index = row
    query = sa.select(t.model, *_READ).where(t.request_id == base, t.row_count > index)
    if model is not None:
        query = query.where(t.model == model)
    found = [_one(conn, r[0], r[1:]) for r in conn.execute(query.order_by(t.model))]
    return [_row_alone(e, request_id, index) for e in found if e.rows >= 2]


def _one(conn: sa.Connection, model: str, row: Sequence[Any]) -> LoggedRequest:
    l = request_labels.c  # noqa: E741 - the labels table's columns
    query = sa.select(*_LABELS).where(l.model == model, l.request_id == row[0])
    return _logged(model, [tuple(row)], _labels_by_id(conn.execute(query).all()))[0]


def values_of(columns: dict[str, list[Any]], rows: int) -> dict[str, Any]:
    """A request's columns as ``{name: value}`` when it has one row, else as they are."""
    return {name: values[0] for name, values in columns.items()} if rows == 1 else columns


def _row_alone(entry: LoggedRequest, request_id: str, index: int) -> LoggedRequest:
    """Row ``index`` of ``entry`` as a request of one row named ``request_id``, with its
    own label, else the whole request's."""
    own = [lab for lab in entry.labels if lab.row == index]
    whole = [lab for lab in entry.labels if lab.row == WHOLE]
    return msgspec.structs.replace(
        entry,
        request_id=request_id,
        rows=1,
        inputs={name: values[index : index + 1] for name, values in entry.inputs.items()},
        outputs={name: values[index : index + 1] for name, values in entry.outputs.items()},
        labels=[msgspec.structs.replace(lab, row=WHOLE) for lab in own or whole],
    )


_READ = [
    request_log.c[name]
    for name in (
        "request_id",
        "time",
        "version",
        "arm",
        "status",
        "latency_ms",
        "row_count",
        "inputs",
        "outputs",
    )
]
_LABELS = [request_labels.c[name] for name in ("request_id", "row_index", "label", "labelled_at")]


def _labels_by_id(rows: Sequence[tuple[Any, ...]]) -> dict[str, list[RequestLabel]]:
    found: dict[str, list[RequestLabel]] = {}
    for rid, index, body, at in rows:
        found.setdefault(rid, []).append(RequestLabel(row=index, label=_any.decode(body), at=at))
    for labels in found.values():
        labels.sort(key=lambda lab: lab.row)
    return found


def _logged(
    model: str, rows: Sequence[tuple[Any, ...]], labels: dict[str, list[RequestLabel]]
) -> list[LoggedRequest]:
    """Requests from rows; each column of msgpack maps is decoded in one call."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    inputs, outputs = _maps(columns[7]), _maps(columns[8])
    return [
        LoggedRequest(
            model=model,
            request_id=rid,
            time=at,
            version=version,
            arm=arm,
            status=status,
            latency_ms=latency,
            rows=count,
            inputs=given,
            outputs=answered,
            labels=labels.get(rid, []),
        )
        for (rid, at, version, arm, status, latency, count, _, _), given, answered in zip(
            rows, inputs, outputs, strict=True
        )
    ]


def _maps(blobs: Sequence[bytes]) -> list[dict[str, Any]]:
    """Many msgpack maps of columns decoded at once (framed as one msgpack array: 0xdd,
    u32 length), packed columns unpacked into lists."""
    maps = _map_list.decode(b"\xdd" + len(blobs).to_bytes(4, "big") + b"".join(blobs))
    for columns in maps:
        for name, values in columns.items():
            if type(values) is msgspec.msgpack.Ext:
                columns[name] = packed.unpack(values)
    return maps


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
