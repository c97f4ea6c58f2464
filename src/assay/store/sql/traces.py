"""Traces in SQL: one row per span (the whole span as msgpack, plus the columns a summary
or a filter reads) and one summary row per trace, recomputed from its spans in the
transaction that stored them.

Spans are inserted with one driver-level executemany and ``ON CONFLICT DO NOTHING``, so a
retried export stores nothing twice. The traces a write touches are claimed first (their
summary rows inserted if missing, then locked in a fixed order: ``FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` holds the whole store), so two writers of one
trace never compute its summary from each other's half-written spans.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput, LimitExceeded, NotFound
from assay.records import SPAN_KINDS, SPAN_STATUSES, Span, Trace
from assay.store.sql.schema import projects, spans, traces
from assay.store.sql.trace_filters import trace_filter
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import user_text
from assay.values import check_project

MAX_SPANS = 100_000  # in one write
MAX_SPAN_BYTES = 4 << 20  # one span, encoded: attributes, events and links together
NAME_LENGTH = 1024  # what the name column holds; the span keeps its whole name
INT64 = 2**63 - 1
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_IN_CHUNK = 500  # trace ids in one IN (...)
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Span)
_SPAN_COLUMNS = (
    "project",
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "start_ns",
    "end_ns",
    "status",
    "model",
    "input_tokens",
    "output_tokens",
    "cost",
    "body",
)


# ---- checks -----------------------------------------------------------------------------


def check_span(span: Span) -> bytes:
    """The span's stored form, once everything a database must hold is valid."""
    check_project(span.project)
    where = f"span {span.span_id!r:.40} of trace {span.trace_id!r:.40}"
    if not isinstance(span.trace_id, str) or not _TRACE_ID.fullmatch(span.trace_id):
        raise InvalidInput(f"{where}: a trace id is 32 lowercase hex digits, not all zero")
    if span.trace_id == "0" * 32 or span.span_id == "0" * 16:
        raise InvalidInput(f"{where}: an all-zero id is not valid")
    for what, value in (("span id", span.span_id), ("parent id", span.parent_id)):
        if value is not None and not _SPAN_ID.fullmatch(value):
            raise InvalidInput(f"{where}: a {what} is 16 lowercase hex digits")
    user_text(f"{where}: name", span.name)
    user_text(f"{where}: model", span.model)
    if span.model is not None and len(span.model) > 256:
        raise InvalidInput(f"{where}: model name is longer than 256 characters")
    if span.kind not in SPAN_KINDS or span.status not in SPAN_STATUSES:
        raise InvalidInput(f"{where}: kind {span.kind!r} or status {span.status!r} is unknown")
    _check_numbers(where, span)
    body = _encoder.encode(span)
    if len(body) > MAX_SPAN_BYTES:
        raise LimitExceeded(f"{where} is {len(body):,} bytes encoded, over {MAX_SPAN_BYTES:,}")
    return body


def _check_numbers(where: str, span: Span) -> None:
    if not 0 < span.start_ns <= INT64 or not 0 < span.end_ns <= INT64:
        raise InvalidInput(f"{where}: start and end must be Unix nanoseconds after 1970")
    if span.end_ns < span.start_ns:
        raise InvalidInput(f"{where}: it ends before it starts")
    for what, count in (("input tokens", span.input_tokens), ("output tokens", span.output_tokens)):
        if count is not None and not 0 <= count <= INT64:
            raise InvalidInput(f"{where}: {what} must be a count, not {count}")
    if span.cost is not None and not 0 <= span.cost < float("inf"):
        raise InvalidInput(f"{where}: cost must be a finite amount, not {span.cost}")


# ---- writing ----------------------------------------------------------------------------


def write(tx: Tx, batch: Sequence[Span], bodies: Sequence[bytes]) -> int:
    """Store checked spans and refresh their traces' summaries; the number of new spans."""
    conn, now = tx.conn, time.time()
    keys = sorted({(s.project, s.trace_id) for s in batch})
    for project in sorted({p for p, _ in keys}):
        conn.execute(
            tx.insert(projects).on_conflict_do_nothing(), {"name": project, "created_at": now}
        )
    _claim(tx, keys, batch, now)
    added = _insert_spans(conn, batch, bodies)
    _summarise(conn, keys, now)
    return added


def _claim(tx: Tx, keys: list[tuple[str, str]], batch: Sequence[Span], now: float) -> None:
    """Make sure each trace has its summary row, then lock those rows in key order."""
    first: dict[tuple[str, str], Span] = {}
    for span in batch:
        first.setdefault((span.project, span.trace_id), span)
    rows = [
        {
            "project": project,
            "trace_id": trace_id,
            "name": first[project, trace_id].name[:NAME_LENGTH],
            "start_ns": first[project, trace_id].start_ns,
            "end_ns": first[project, trace_id].end_ns,
            "n_spans": 0,
            "n_errors": 0,
            "updated_at": now,
        }
        for project, trace_id in keys
    ]
    tx.conn.execute(tx.insert(traces).on_conflict_do_nothing(), rows)
    if tx.dialect == "postgresql":
        for project, ids in _by_project(keys):
            tx.conn.execute(
                sa.select(traces.c.trace_id)
                .where(traces.c.project == project, traces.c.trace_id.in_(ids))
                .order_by(traces.c.trace_id)
                .with_for_update()
            ).all()


def _by_project(keys: Iterable[tuple[str, str]]) -> Iterable[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for project, trace_id in keys:
        grouped.setdefault(project, []).append(trace_id)
    for project, ids in grouped.items():
        for i in range(0, len(ids), _IN_CHUNK):
            yield project, ids[i : i + _IN_CHUNK]


def _insert_spans(conn: sa.Connection, batch: Sequence[Span], bodies: Sequence[bytes]) -> int:
    """One executemany handed straight to the driver (per-row parameter processing in
    SQLAlchemy would cost more than the inserts)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(_SPAN_COLUMNS)
    marks = ", ".join([mark] * len(_SPAN_COLUMNS))
    rows = [
        (
            s.project,
            s.trace_id,
            s.span_id,
            s.parent_id,
            s.name[:NAME_LENGTH],
            s.start_ns,
            s.end_ns,
            s.status,
            s.model,
            s.input_tokens,
            s.output_tokens,
            s.cost,
            body,
        )
        for s, body in zip(batch, bodies, strict=True)
    ]
    result = conn.exec_driver_sql(
        f"INSERT INTO spans ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
    )
    return max(0, result.rowcount)


def _summarise(conn: sa.Connection, keys: list[tuple[str, str]], now: float) -> None:
    """Recompute each touched trace's summary from all its stored spans."""
    errors = sa.func.sum(sa.case((spans.c.status == "error", 1), else_=0))
    for project, ids in _by_project(keys):
        mine = sa.and_(spans.c.project == project, spans.c.trace_id.in_(ids))
        totals = conn.execute(
            sa.select(
                spans.c.trace_id,
                sa.func.count().label("n_spans"),
                errors.label("n_errors"),
                sa.func.min(spans.c.start_ns).label("start_ns"),
                sa.func.max(spans.c.end_ns).label("end_ns"),
                sa.func.sum(spans.c.input_tokens).label("input_tokens"),
                sa.func.sum(spans.c.output_tokens).label("output_tokens"),
                sa.func.sum(spans.c.cost).label("cost"),
            )
            .where(mine)
            .group_by(spans.c.trace_id)
        ).all()
        names = _names(conn, project, ids)
        conn.execute(
            traces.update()
            .where(traces.c.project == project, traces.c.trace_id == sa.bindparam("tid"))
            .values(
                {
                    c: sa.bindparam(c)
                    for c in (
                        "name",
                        "n_spans",
                        "n_errors",
                        "start_ns",
                        "end_ns",
                        "input_tokens",
                        "output_tokens",
                        "cost",
                        "updated_at",
                    )
                }
            ),
            [
                {
                    "tid": row.trace_id,
                    "name": names[row.trace_id],
                    "n_spans": row.n_spans,
                    "n_errors": int(row.n_errors or 0),
                    "start_ns": row.start_ns,
                    "end_ns": row.end_ns,
                    "input_tokens": _int(row.input_tokens),
                    "output_tokens": _int(row.output_tokens),
                    "cost": None if row.cost is None else float(row.cost),
                    "updated_at": now,
                }
                for row in totals
            ],
        )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _names(conn: sa.Connection, project: str, ids: list[str]) -> dict[str, str]:
    """Each trace's name: its root span's (the earliest, if several), else its earliest
    span's while the root has not arrived."""
    query = (
        sa.select(spans.c.trace_id, spans.c.name, spans.c.parent_id)
        .where(spans.c.project == project, spans.c.trace_id.in_(ids))
        .where(spans.c.parent_id.is_(None))
        .order_by(spans.c.start_ns.desc())
    )
    names = {row.trace_id: row.name for row in conn.execute(query)}
    for trace_id in ids:
        if trace_id not in names:
            earliest = (
                sa.select(spans.c.name)
                .where(spans.c.project == project, spans.c.trace_id == trace_id)
                .order_by(spans.c.start_ns)
                .limit(1)
            )
            names[trace_id] = conn.execute(earliest).scalar_one()
    return names


# ---- reading ----------------------------------------------------------------------------

_SUMMARY = [traces.c[f] for f in Trace.__struct_fields__ if f != "spans"]


def _record(row: sa.Row[Any]) -> Trace:
    return Trace(**{c.name: getattr(row, c.name) for c in _SUMMARY})


def get(conn: sa.Connection, trace_id: str, project: str | None = None) -> Trace:
    query = sa.select(*_SUMMARY).where(traces.c.trace_id == str(trace_id).lower())
    if project is not None:
        query = query.where(traces.c.project == project)
    found = conn.execute(query).all()
    if not found:
        raise NotFound(f"trace {trace_id} does not exist" + (f" in {project}" if project else ""))
    if len(found) > 1:
        raise several(trace_id, sorted(row.project for row in found))
    trace = _record(found[0])
    rows = conn.execute(
        sa.select(spans.c.body)
        .where(spans.c.project == trace.project, spans.c.trace_id == trace.trace_id)
        .order_by(spans.c.start_ns, spans.c.span_id)
    )
    return msgspec.structs.replace(trace, spans=[_decoder.decode(row.body) for row in rows])


def several(trace_id: str, projects: list[str]) -> InvalidInput:
    return InvalidInput(
        f"trace {trace_id} is stored in several projects ({', '.join(projects)}): "
        "name the project"
    )


def projects_of(conn: sa.Connection, trace_id: str) -> list[str]:
    """The projects that hold a trace of this id."""
    query = sa.select(traces.c.project).where(traces.c.trace_id == str(trace_id).lower())
    return sorted(conn.execute(query).scalars())


def listing(
    conn: sa.Connection, project: str, filter: str | None, limit: int, offset: int
) -> list[Trace]:
    query = (
        sa.select(*_SUMMARY)
        .where(traces.c.project == project)
        .order_by(traces.c.start_ns.desc(), traces.c.trace_id)
        .limit(limit)
        .offset(offset)
    )
    if filter is not None and filter.strip():
        query = query.where(trace_filter(filter))
    return [_record(row) for row in conn.execute(query)]


class SqlTraces:
    """``store.traces`` on SQL: the facet over this module's functions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, spans: Sequence[Span], actor: str | None = None) -> int:
        batch = list(spans)
        if len(batch) > MAX_SPANS:
            raise LimitExceeded(f"a write holds at most {MAX_SPANS:,} spans, not {len(batch):,}")
        if not batch:
            return 0
        bodies = [check_span(span) for span in batch]
        with self.db.write("store spans", actor=actor) as tx:
            return write(tx, batch, bodies)

    def get(self, trace_id: str, project: str | None = None) -> Trace:
        with self.db.read() as conn:
            return get(conn, trace_id, project)

    def span(self, project: str, trace_id: str, span_id: str) -> Span:
        """One span (the UI's span details), without decoding the rest of its trace."""
        query = sa.select(spans.c.body).where(
            spans.c.project == project,
            spans.c.trace_id == str(trace_id).lower(),
            spans.c.span_id == str(span_id).lower(),
        )
        with self.db.read() as conn:
            body = conn.execute(query).scalar()
        if body is None:
            raise NotFound(f"span {span_id} of trace {trace_id} does not exist in {project}")
        return _decoder.decode(body)

    def projects_of(self, trace_id: str) -> list[str]:
        with self.db.read() as conn:
            return projects_of(conn, trace_id)

    def list(
        self, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Trace]:
        check_project(project)
        check_page("limit", limit)
        check_page("offset", offset)
        if filter is not None:
            trace_filter(filter)  # a bad filter is refused before the database is asked
        with self.db.read() as conn:
            return listing(conn, project, filter, limit, offset)
