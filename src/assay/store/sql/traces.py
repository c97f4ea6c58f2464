"""Traces in SQL: one row per span (the whole span as msgpack, plus the columns a summary
or a filter reads) and one summary row per trace, to which each write adds its new spans.

A write claims the traces it touches first (their summary rows inserted if missing, then
locked in key order: ``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` holds the
whole store), then inserts its spans with driver-level multi-row INSERTs under a savepoint.
A span stored already makes that fail: it is rolled back, the write asks which of its
spans are stored and inserts the others, so a retried export stores nothing twice and
counts nothing twice, and two writers of one trace take turns. No span is read back to
sum a trace.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput, LimitExceeded, NotFound
from assay.records import SPAN_KINDS, SPAN_STATUSES, Span, Trace, TraceFeedback, TraceFeedbackDraft
from assay.store.sql import trace_feedback
from assay.store.sql.group_commit import GroupCommit
from assay.store.sql.schema import projects, spans, traces
from assay.store.sql.trace_filters import trace_filter
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import storable_text, user_text
from assay.values import check_project

MAX_SPANS = 100_000  # in one write
GROUP_SPANS = 20_000  # concurrent writes committed together hold at most this many spans
MAX_SPAN_BYTES = 4 << 20  # one span, encoded: attributes, events and links together
NAME_LENGTH = 1024  # what the name column holds; the span keeps its whole name
INT64 = 2**63 - 1
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_IN_CHUNK = 500  # trace ids in one IN (...)
INSERT_ROWS = 64  # spans in one INSERT (13 parameters each: well within every limit)
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Span)
_many = msgspec.msgpack.Decoder(list[Span])
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
    if type(span.project) is str:
        _project(span.project)
    else:
        check_project(span.project)
    if not isinstance(span.trace_id, str) or not _TRACE_ID.fullmatch(span.trace_id):
        raise InvalidInput(f"{_where(span)}: a trace id is 32 lowercase hex digits, not all zero")
    if span.trace_id == _ZERO_TRACE or span.span_id == _ZERO_SPAN:
        raise InvalidInput(f"{_where(span)}: an all-zero id is not valid")
    for what, value in (("span id", span.span_id), ("parent id", span.parent_id)):
        if value is not None and not _SPAN_ID.fullmatch(value):
            raise InvalidInput(f"{_where(span)}: a {what} is 16 lowercase hex digits")
    if not storable_text(span.name):
        user_text(f"{_where(span)}: name", span.name)
    if span.model is not None and not storable_text(span.model):
        user_text(f"{_where(span)}: model", span.model)
    if span.model is not None and len(span.model) > 256:
        raise InvalidInput(f"{_where(span)}: model name is longer than 256 characters")
    if span.kind not in SPAN_KINDS or span.status not in SPAN_STATUSES:
        raise InvalidInput(
            f"{_where(span)}: kind {span.kind!r} or status {span.status!r} is unknown"
        )
    _check_numbers(span)
    body = _encoder.encode(span)
    if len(body) > MAX_SPAN_BYTES:
        raise LimitExceeded(
            f"{_where(span)} is {len(body):,} bytes encoded, over {MAX_SPAN_BYTES:,}"
        )
    return body


def _where(span: Span) -> str:
    """How an error names a span (made only when there is an error to name it in)."""
    return f"span {span.span_id!r:.40} of trace {span.trace_id!r:.40}"


@lru_cache(maxsize=1024)
def _project(name: str) -> str:
    """check_project, remembered for the names that passed."""
    return check_project(name)


def _check_numbers(span: Span) -> None:
    if not 0 < span.start_ns <= INT64 or not 0 < span.end_ns <= INT64:
        raise InvalidInput(f"{_where(span)}: start and end must be Unix nanoseconds after 1970")
    if span.end_ns < span.start_ns:
        raise InvalidInput(f"{_where(span)}: it ends before it starts")
    for what, count in (("input tokens", span.input_tokens), ("output tokens", span.output_tokens)):
        if count is not None and not 0 <= count <= INT64:
            raise InvalidInput(f"{_where(span)}: {what} must be a count, not {count}")
    if span.cost is not None and not 0 <= span.cost < float("inf"):
        raise InvalidInput(f"{_where(span)}: cost must be a finite amount, not {span.cost}")


# ---- writing ----------------------------------------------------------------------------


def write(tx: Tx, batch: Sequence[Span], bodies: Sequence[bytes]) -> list[int]:
    """Store checked spans and bring their traces' summaries up to date; the positions of
    the spans that were new (a span already stored, or twice in the batch, counts once)."""
    conn, now = tx.conn, time.time()
    keys = sorted({(s.project, s.trace_id) for s in batch})
    for project in sorted({p for p, _ in keys}):
        conn.execute(
            tx.insert(projects).on_conflict_do_nothing(), {"name": project, "created_at": now}
        )
    summaries = _claim(tx, keys, batch, now)
    fresh = _insert_new(conn, batch, bodies, keys)
    _summarise(conn, summaries, [batch[i] for i in fresh], now)
    return fresh


def _claim(
    tx: Tx, keys: list[tuple[str, str]], batch: Sequence[Span], now: float
) -> dict[tuple[str, str], sa.Row[Any]]:
    """Each trace's summary row (inserted empty if missing), locked in key order, so the
    spans of one trace are counted by one writer at a time."""
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
    found: dict[tuple[str, str], sa.Row[Any]] = {}
    for project, ids in _by_project(keys):
        query = (
            sa.select(traces)
            .where(traces.c.project == project, traces.c.trace_id.in_(ids))
            .order_by(traces.c.trace_id)
        )
        if tx.dialect == "postgresql":
            query = query.with_for_update()
        found.update({(row.project, row.trace_id): row for row in tx.conn.execute(query)})
    return found


def _by_project(keys: Iterable[tuple[str, str]]) -> Iterable[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for project, trace_id in keys:
        grouped.setdefault(project, []).append(trace_id)
    for project, ids in grouped.items():
        for i in range(0, len(ids), _IN_CHUNK):
            yield project, ids[i : i + _IN_CHUNK]


def _insert_new(
    conn: sa.Connection, batch: Sequence[Span], bodies: Sequence[bytes], keys: list[tuple[str, str]]
) -> list[int]:
    """Insert the spans not stored yet; their positions in the batch. All of them are new
    in the common case, so the batch goes in at once, under a savepoint, without asking
    first; a span stored already (a retried export) or twice in the batch rolls that
    back, and then the new ones are found and inserted."""
    try:
        with conn.begin_nested():
            _insert_spans(conn, batch, bodies)
        return list(range(len(batch)))
    except sa.exc.IntegrityError:
        fresh = _fresh(conn, batch, keys)
        _insert_spans(conn, [batch[i] for i in fresh], [bodies[i] for i in fresh])
        return fresh


def _fresh(conn: sa.Connection, batch: Sequence[Span], keys: list[tuple[str, str]]) -> list[int]:
    """Positions of the spans not stored yet, each span's first occurrence only (asked
    with the traces locked, so no other writer can store them meanwhile)."""
    stored: set[tuple[str, str, str]] = set()
    wanted: dict[str, set[str]] = {}
    for span in batch:
        wanted.setdefault(span.project, set()).add(span.span_id)
    for project, ids in _by_project(keys):
        span_ids = sorted(wanted[project])
        for i in range(0, len(span_ids), _IN_CHUNK):
            query = sa.select(spans.c.trace_id, spans.c.span_id).where(
                spans.c.project == project,
                spans.c.trace_id.in_(ids),
                spans.c.span_id.in_(span_ids[i : i + _IN_CHUNK]),
            )
            stored.update((project, t, sid) for t, sid in conn.execute(query))
    fresh = []
    for position, span in enumerate(batch):
        key = (span.project, span.trace_id, span.span_id)
        if key not in stored:
            stored.add(key)
            fresh.append(position)
    return fresh


def _insert_spans(conn: sa.Connection, batch: Sequence[Span], bodies: Sequence[bytes]) -> None:
    """Multi-row INSERTs of ``INSERT_ROWS`` spans each, handed straight to the driver
    (per-row parameter processing in SQLAlchemy would cost more than the inserts; one
    statement of many rows costs SQLite less than as many executions of one row)."""
    if not batch:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
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
    for i in range(0, len(rows), INSERT_ROWS):
        chunk = rows[i : i + INSERT_ROWS]
        values = tuple(itertools.chain.from_iterable(chunk))
        conn.exec_driver_sql(_insert_sql(mark, len(chunk)), values)


@lru_cache(maxsize=8)
def _insert_sql(mark: str, rows: int) -> str:
    """``INSERT INTO spans (...) VALUES (...), (...)`` of ``rows`` rows."""
    row = "(" + ", ".join([mark] * len(_SPAN_COLUMNS)) + ")"
    return f"INSERT INTO spans ({', '.join(_SPAN_COLUMNS)}) VALUES " + ", ".join([row] * rows)


_SUMMARY_COLUMNS = (
    "name",
    "root_start_ns",
    "n_spans",
    "n_errors",
    "start_ns",
    "end_ns",
    "input_tokens",
    "output_tokens",
    "cost",
    "updated_at",
)


def _summarise(
    conn: sa.Connection,
    summaries: dict[tuple[str, str], sa.Row[Any]],
    fresh: Sequence[Span],
    now: float,
) -> None:
    """Add the new spans to their traces' summaries (no span is read back)."""
    grouped: dict[tuple[str, str], list[Span]] = {}
    for span in fresh:
        grouped.setdefault((span.project, span.trace_id), []).append(span)
    changes = [
        {"p": key[0], "t": key[1], **_summary(summaries[key], new), "updated_at": now}
        for key, new in grouped.items()
    ]
    if changes:
        conn.execute(
            traces.update()
            .where(traces.c.project == sa.bindparam("p"), traces.c.trace_id == sa.bindparam("t"))
            .values({c: sa.bindparam(c) for c in _SUMMARY_COLUMNS}),
            changes,
        )


def _summary(row: sa.Row[Any], new: list[Span]) -> dict[str, Any]:
    """A trace's summary with ``new`` spans added. Its name is its root span's (the
    earliest root, if several), else its earliest span's while no root has arrived."""
    empty = row.n_spans == 0
    earliest = min(new, key=lambda s: (s.start_ns, s.span_id))
    start = earliest.start_ns if empty else min(row.start_ns, earliest.start_ns)
    name, root_start = row.name, row.root_start_ns
    roots = [s for s in new if s.parent_id is None]
    if roots:
        root = min(roots, key=lambda s: (s.start_ns, s.span_id))
        if root_start is None or root.start_ns < root_start:
            name, root_start = root.name[:NAME_LENGTH], root.start_ns
    if root_start is None and (empty or earliest.start_ns < row.start_ns):
        name = earliest.name[:NAME_LENGTH]
    return {
        "name": name,
        "root_start_ns": root_start,
        "n_spans": row.n_spans + len(new),
        "n_errors": row.n_errors + sum(1 for s in new if s.status == "error"),
        "start_ns": start,
        "end_ns": max(s.end_ns for s in new)
        if empty
        else max(row.end_ns, *(s.end_ns for s in new)),
        "input_tokens": _total(row.input_tokens, [s.input_tokens for s in new]),
        "output_tokens": _total(row.output_tokens, [s.output_tokens for s in new]),
        "cost": _total(row.cost, [s.cost for s in new]),
    }


def _total(before: Any, added: list[Any]) -> Any:
    """A sum that stays None while nothing is known."""
    known = [v for v in added if v is not None]
    if not known:
        return before
    return (before or 0) + sum(known)


# ---- reading ----------------------------------------------------------------------------

_SUMMARY = [traces.c[f] for f in Trace.__struct_fields__ if f != "spans"]  # not root_start_ns


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
    bodies = conn.execute(
        sa.select(spans.c.body)
        .where(spans.c.project == trace.project, spans.c.trace_id == trace.trace_id)
        .order_by(spans.c.start_ns, spans.c.span_id)
    ).scalars()
    return msgspec.structs.replace(trace, spans=decode_spans(list(bodies)))


def decode_spans(bodies: list[bytes]) -> list[Span]:
    """Stored spans, decoded as one msgpack array with the cycle collector paused: tens
    of thousands of spans are millions of small objects, and collecting while they are
    made would take longer than decoding them."""
    header = b"\xdd" + len(bodies).to_bytes(4, "big")  # msgpack array 32
    paused = gc.isenabled()
    gc.disable()
    try:
        return _many.decode(header + b"".join(bodies))
    finally:
        if paused:
            gc.enable()


def outline(conn: sa.Connection, project: str, trace_id: str) -> list[sa.Row[Any]]:
    """What a span tree draws of each span, in start order, without decoding any span."""
    return list(
        conn.execute(
            sa.select(
                spans.c.span_id,
                spans.c.parent_id,
                spans.c.name,
                spans.c.start_ns,
                spans.c.end_ns,
                spans.c.status,
                spans.c.model,
                spans.c.input_tokens,
                spans.c.output_tokens,
                spans.c.cost,
            )
            .where(spans.c.project == project, spans.c.trace_id == str(trace_id).lower())
            .order_by(spans.c.start_ns, spans.c.span_id)
        )
    )


def several(trace_id: str, projects: list[str]) -> InvalidInput:
    return InvalidInput(
        f"trace {trace_id} is stored in several projects ({', '.join(projects)}): name the project"
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


@dataclass(frozen=True, kw_only=True)
class _Checked:
    """One caller's write: spans, their stored forms, who writes them."""

    spans: Sequence[Span]
    bodies: Sequence[bytes]
    actor: str | None


class SqlTraces:
    """``store.traces`` on SQL: the facet over this module's functions."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._group: GroupCommit[_Checked, int] = GroupCommit(self._commit, GROUP_SPANS)

    def write(self, spans: Sequence[Span], actor: str | None = None) -> int:
        batch = list(spans)
        if len(batch) > MAX_SPANS:
            raise LimitExceeded(f"a write holds at most {MAX_SPANS:,} spans, not {len(batch):,}")
        return self.write_checked(batch, [check_span(span) for span in batch], actor)

    def write_checked(
        self, spans: Sequence[Span], bodies: Sequence[bytes], actor: str | None = None
    ) -> int:
        """``write`` for spans already checked, ``bodies`` their stored forms (what
        ``check_span`` returned). The spans go in with the other writes waiting at the
        same moment in this process, in one transaction (group commit); the number of
        new spans is returned once that has committed."""
        if len(spans) != len(bodies):
            raise InvalidInput(f"{len(spans)} spans but {len(bodies)} stored forms")
        if len(spans) > MAX_SPANS:
            raise LimitExceeded(f"a write holds at most {MAX_SPANS:,} spans, not {len(spans):,}")
        if not spans:
            return 0
        self.db.writable("store spans")
        checked = _Checked(spans=spans, bodies=bodies, actor=actor)
        return self._group.submit(checked, len(spans), key=actor or "")

    def _commit(self, writes: Sequence[_Checked]) -> list[int]:
        """Writes of one actor in one transaction: how many new spans each had."""
        batch = [span for w in writes for span in w.spans]
        bodies = [body for w in writes for body in w.bodies]
        with self.db.write("store spans", actor=writes[0].actor) as tx:
            fresh = write(tx, batch, bodies)
        ends = list(itertools.accumulate(len(w.spans) for w in writes))
        counts = [0] * len(writes)
        for position in fresh:
            counts[bisect.bisect_right(ends, position)] += 1
        return counts

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

    def outline(self, project: str, trace_id: str) -> list[sa.Row[Any]]:
        """Each span's id, parent, name, times, status, model, tokens and cost (the UI's
        span tree), read from columns only."""
        with self.db.read() as conn:
            return outline(conn, project, trace_id)

    def projects_of(self, trace_id: str) -> list[str]:
        with self.db.read() as conn:
            return projects_of(conn, trace_id)

    def add_feedback(self, draft: TraceFeedbackDraft, actor: str | None = None) -> TraceFeedback:
        checked = trace_feedback.check(draft)
        with self.db.write("store trace feedback", actor=actor) as tx:
            return trace_feedback.add(tx, checked)

    def feedback(
        self,
        project: str,
        trace_ids: Sequence[str] | None = None,
        *,
        name: str | None = None,
        source: str | None = None,
        limit: int = 10_000,
    ) -> list[TraceFeedback]:
        check_project(project)
        check_page("limit", limit)
        with self.db.read() as conn:
            return trace_feedback.listing(
                conn, project, trace_ids, name=name, source=source, limit=limit
            )

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
