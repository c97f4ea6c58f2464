"""The request log keeps one entry per request, however many rows it had: ``row_count``,
inputs and outputs as columns (``{name: [value per row]}``), and labels per row (or, row
-1, per request) in ``request_labels``.

The upgrade groups the entries earlier versions wrote per row, ``<id>/0`` ... ``<id>/<n-1>``
of one request (same time, version, arm, status and latency; rows 0 to n-1 all there),
into one entry ``<id>`` of n rows, their labels kept per row; any other entry becomes a
request of one row, its label the request's. The downgrade splits them back.

Revision ID: 0021
Revises: 0020
"""

import re
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

PAGE = 2000  # entries read at once
WHOLE = -1
_ROW_ID = re.compile(r"(.+)/(0|[1-9][0-9]*)")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode

Row = Any  # a result row of the table being converted


def _fixed() -> list[sa.Column[Any]]:
    return [
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(256), primary_key=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(64)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
    ]


def upgrade() -> None:
    conn = op.get_bind()
    new = op.create_table(
        "request_log_0021",
        *_fixed(),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("inputs", sa.LargeBinary, nullable=False),
        sa.Column("outputs", sa.LargeBinary, nullable=False),
    )
    labels = op.create_table(
        "request_labels",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(256), primary_key=True),
        sa.Column("row_index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("label", sa.LargeBinary, nullable=False),
        sa.Column("labelled_at", sa.Float, nullable=False),
    )
    old = sa.Table("request_log", sa.MetaData(), autoload_with=conn)
    waiting: list[Row] = []
    for page in _pages(conn, old):
        waiting.extend(page)
        last = (waiting[-1].model, waiting[-1].time)
        cut = next(i for i, r in enumerate(waiting) if (r.model, r.time) == last)
        _group(conn, old, new, labels, waiting[:cut])
        waiting = waiting[cut:]
    _group(conn, old, new, labels, waiting)
    _swap("request_log_0021")


def _group(
    conn: sa.Connection, old: sa.Table, new: sa.Table, labels: sa.Table, rows: list[Row]
) -> None:
    """Old per-row entries (whole runs of one model and time) into requests."""
    if not rows:
        return
    parts: dict[tuple[Any, ...], list[tuple[int, Row]]] = {}
    alone: list[Row] = []
    for r in rows:
        found = _ROW_ID.fullmatch(r.request_id)
        if found is None:
            alone.append(r)
            continue
        key = (r.model, found[1], r.time, r.version, r.arm, r.status, r.latency_ms)
        parts.setdefault(key, []).append((int(found[2]), r))
    taken = _existing(conn, old, {(k[0], k[1]) for k in parts})
    entries: list[dict[str, Any]] = []
    joined: list[dict[str, Any]] = []
    for key, members in parts.items():
        members.sort(key=lambda m: m[0])
        whole = len(members) >= 2 and [i for i, _ in members] == list(range(len(members)))
        if not whole or (key[0], key[1]) in taken:
            alone.extend(r for _, r in members)
            continue
        first = members[0][1]
        given = [_decode(r.inputs) for _, r in members]
        answered = [_decode(r.outputs) for _, r in members]
        entries.append(_entry(first, key[1], len(members), _columns(given), _columns(answered)))
        joined.extend(
            _label(first.model, key[1], i, r) for i, r in members if r.labelled_at is not None
        )
    for r in alone:
        given, answered = _decode(r.inputs), _decode(r.outputs)
        count = 1 if given or answered else 0
        entries.append(
            _entry(r, r.request_id, count, _columns([given]), _columns([answered]))
            if count
            else _entry(r, r.request_id, 0, {}, {})
        )
        if r.labelled_at is not None:
            joined.append(_label(r.model, r.request_id, WHOLE, r))
    conn.execute(_insert(conn, new), entries)
    if joined:
        conn.execute(_insert(conn, labels), joined)


def _existing(
    conn: sa.Connection, old: sa.Table, keys: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (model, id) of ``keys`` the old log holds as entries of their own."""
    found: set[tuple[str, str]] = set()
    by_model: dict[str, list[str]] = {}
    for model, rid in keys:
        by_model.setdefault(model, []).append(rid)
    for model, ids in by_model.items():
        for start in range(0, len(ids), 500):
            query = sa.select(old.c.request_id).where(
                old.c.model == model, old.c.request_id.in_(ids[start : start + 500])
            )
            found.update((model, rid) for rid in conn.scalars(query))
    return found


def _columns(maps: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Per-row ``{name: value}`` maps as ``{name: [value per row]}`` (None where missing)."""
    names = list(dict.fromkeys(name for m in maps for name in m))
    return {name: [m.get(name) for m in maps] for name in names}


def _entry(
    r: Row, request_id: str, rows: int, inputs: dict[str, Any], outputs: dict[str, Any]
) -> dict[str, Any]:
    return {
        "model": r.model,
        "request_id": request_id,
        "time": r.time,
        "version": r.version,
        "arm": r.arm,
        "status": r.status,
        "latency_ms": r.latency_ms,
        "row_count": rows,
        "inputs": _encode(inputs),
        "outputs": _encode(outputs),
    }


def _label(model: str, request_id: str, index: int, r: Row) -> dict[str, Any]:
    body = r.label if r.label is not None else _encode(None)
    return {
        "model": model,
        "request_id": request_id,
        "row_index": index,
        "label": body,
        "labelled_at": r.labelled_at,
    }


def downgrade() -> None:
    conn = op.get_bind()
    old = op.create_table(
        "request_log_0020",
        *_fixed(),
        sa.Column("inputs", sa.LargeBinary, nullable=False),
        sa.Column("outputs", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.LargeBinary),
        sa.Column("labelled_at", sa.Float),
    )
    new = sa.Table("request_log", sa.MetaData(), autoload_with=conn)
    labels = sa.Table("request_labels", sa.MetaData(), autoload_with=conn)
    for page in _pages(conn, new):
        joined = _labels_of(conn, labels, page)
        split = [row for r in page for row in _split(r, joined)]
        conn.execute(_insert(conn, old), split)
    op.drop_table("request_labels")
    _swap("request_log_0020")


def _labels_of(conn: sa.Connection, labels: sa.Table, page: list[Row]) -> dict[Any, Any]:
    """(model, request id, row) -> (label, labelled_at) of the requests of ``page``."""
    found = {}
    by_model: dict[str, list[str]] = {}
    for r in page:
        by_model.setdefault(r.model, []).append(r.request_id)
    for model, ids in by_model.items():
        for start in range(0, len(ids), 500):
            query = sa.select(labels).where(
                labels.c.model == model, labels.c.request_id.in_(ids[start : start + 500])
            )
            for lab in conn.execute(query):
                found[(model, lab.request_id, lab.row_index)] = (lab.label, lab.labelled_at)
    return found


def _split(r: Row, joined: dict[Any, Any]) -> list[dict[str, Any]]:
    """A request as the per-row entries of earlier versions."""
    inputs, outputs = _decode(r.inputs), _decode(r.outputs)
    whole = joined.get((r.model, r.request_id, WHOLE), (None, None))
    count = max(r.row_count, 1)
    entries = []
    for i in range(count):
        label, at = joined.get((r.model, r.request_id, i), whole)
        entries.append(
            {
                "model": r.model,
                "request_id": r.request_id if count == 1 else f"{r.request_id}/{i}",
                "time": r.time,
                "version": r.version,
                "arm": r.arm,
                "status": r.status,
                "latency_ms": r.latency_ms,
                "inputs": _encode(_at(inputs, i)),
                "outputs": _encode(_at(outputs, i)),
                "label": label,
                "labelled_at": at,
            }
        )
    return entries


def _at(columns: dict[str, list[Any]], i: int) -> dict[str, Any]:
    return {name: values[i] for name, values in columns.items() if i < len(values)}


def _pages(conn: sa.Connection, table: sa.Table) -> Iterator[list[Row]]:
    """Every entry of ``table`` by (model, time, request id), a page at a time."""
    t = table.c
    order = (t.model, t.time, t.request_id)
    after: tuple[Any, ...] | None = None
    while True:
        query = sa.select(table).order_by(*order).limit(PAGE)
        if after is not None:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*after))
        page = list(conn.execute(query))
        if not page:
            return
        yield page
        last = page[-1]
        after = (last.model, last.time, last.request_id)


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An insert that leaves an entry already there as it is."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _swap(built: str) -> None:
    """Replace ``request_log`` by the table ``built``, under its name and with its index."""
    op.drop_index("ix_request_log_model_time", table_name="request_log")
    op.drop_table("request_log")
    op.rename_table(built, "request_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE request_log RENAME CONSTRAINT {built}_pkey TO request_log_pkey")
    op.create_index("ix_request_log_model_time", "request_log", ["model", "time"])
