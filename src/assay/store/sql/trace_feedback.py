"""Feedback on traces and spans in SQL: one row each, keyed by an id the sender may
choose (the SDK does), so a retried write stores one feedback. Checked before anything is
written; the trace need not be stored yet (an application's feedback can outrun the
tracer's journal)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from assay.errors import InvalidInput
from assay.ids import new_run_id
from assay.records import FEEDBACK_SOURCES, TraceFeedback, TraceFeedbackDraft
from assay.store.sql import audit
from assay.store.sql.schema import projects, trace_feedback
from assay.store.sql.tx import Tx
from assay.store.validate import user_strings, user_text, user_tree
from assay.values import check_project

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
NAME_LENGTH = 256
MAX_TEXT = 100_000  # characters of a comment
_IN_CHUNK = 500  # trace ids in one IN (...)


def check(draft: TraceFeedbackDraft) -> TraceFeedbackDraft:
    """The draft, its ids lower-cased, or InvalidInput naming what is wrong."""
    check_project(draft.project)
    trace_id = str(draft.trace_id).lower()
    if not _TRACE_ID.fullmatch(trace_id):
        raise InvalidInput(f"trace_id {draft.trace_id!r} is not 32 hexadecimal digits")
    span_id = None if draft.span_id is None else str(draft.span_id).lower()
    if span_id is not None and not _SPAN_ID.fullmatch(span_id):
        raise InvalidInput(f"span_id {draft.span_id!r} is not 16 hexadecimal digits")
    if draft.id is not None and not _ID.fullmatch(draft.id):
        raise InvalidInput(f"feedback id {draft.id!r} is not 1-64 of A-Za-z0-9_.:-")
    if not draft.name or len(draft.name) > NAME_LENGTH:
        raise InvalidInput(f"feedback name must be 1-{NAME_LENGTH} characters")
    user_text("feedback name", draft.name)
    if draft.source not in FEEDBACK_SOURCES:
        raise InvalidInput(
            f"feedback source {draft.source!r} is not one of {', '.join(FEEDBACK_SOURCES)}"
        )
    _check_values(draft)
    return TraceFeedbackDraft(
        **{f: getattr(draft, f) for f in TraceFeedbackDraft.__struct_fields__}
        | {"trace_id": trace_id, "span_id": span_id, "data": user_tree("data", draft.data)}
    )


def _check_values(draft: TraceFeedbackDraft) -> None:
    given = (draft.score, draft.thumbs, draft.correction, draft.comment)
    if all(v is None for v in given):
        raise InvalidInput("feedback needs a score, thumbs, a correction or a comment")
    if draft.score is not None and (
        isinstance(draft.score, bool)
        or not isinstance(draft.score, int | float)
        or not math.isfinite(draft.score)
    ):
        raise InvalidInput(f"score must be a finite number, not {draft.score!r}")
    if draft.thumbs is not None and not isinstance(draft.thumbs, bool):
        raise InvalidInput(f"thumbs must be true (up) or false (down), not {draft.thumbs!r}")
    if draft.comment is not None:
        user_text("comment", draft.comment)
        if len(draft.comment) > MAX_TEXT:
            raise InvalidInput(f"a comment holds at most {MAX_TEXT:,} characters")
    if isinstance(draft.correction, float) and not math.isfinite(draft.correction):
        raise InvalidInput("a correction must not be NaN or infinite")
    user_strings("correction", draft.correction)


def add(tx: Tx, draft: TraceFeedbackDraft) -> TraceFeedback:
    """Store checked feedback; with an id already stored, the stored one is returned."""
    conn, now = tx.conn, time.time()
    conn.execute(
        tx.insert(projects).on_conflict_do_nothing(), {"name": draft.project, "created_at": now}
    )
    feedback_id = draft.id or new_run_id()
    row = {
        **{f: getattr(draft, f) for f in TraceFeedbackDraft.__struct_fields__},
        "id": feedback_id,
        "score": None if draft.score is None else float(draft.score),
        "created_at": now,
        "created_by": tx.actor,
    }
    added = conn.execute(
        tx.insert(trace_feedback).on_conflict_do_nothing().returning(trace_feedback.c.id), row
    ).first()
    stored = _record(
        conn.execute(sa.select(trace_feedback).where(trace_feedback.c.id == feedback_id)).one()
    )
    if added is None and (stored.project, stored.trace_id) != (draft.project, draft.trace_id):
        raise InvalidInput(f"feedback id {feedback_id!r} is taken by another trace's feedback")
    if added is not None:
        audit.append(
            conn,
            tx.actor,
            "trace_feedback.added",
            f"trace_feedback:{feedback_id}",
            {"project": draft.project, "trace_id": draft.trace_id, "name": draft.name},
        )
    return stored


def listing(
    conn: sa.Connection,
    project: str,
    trace_ids: Sequence[str] | None,
    *,
    name: str | None,
    source: str | None,
    limit: int,
) -> list[TraceFeedback]:
    """Feedback of a project (of these traces), oldest first."""
    base = sa.select(trace_feedback).where(trace_feedback.c.project == project)
    if name is not None:
        base = base.where(trace_feedback.c.name == name)
    if source is not None:
        base = base.where(trace_feedback.c.source == source)
    order = (trace_feedback.c.created_at, trace_feedback.c.id)
    if trace_ids is None:
        return [_record(r) for r in conn.execute(base.order_by(*order).limit(limit))]
    ids = sorted({str(t).lower() for t in trace_ids})
    found: list[TraceFeedback] = []
    for i in range(0, len(ids), _IN_CHUNK):
        query = base.where(trace_feedback.c.trace_id.in_(ids[i : i + _IN_CHUNK]))
        found += [_record(r) for r in conn.execute(query.order_by(*order))]
    found.sort(key=lambda f: (f.created_at, f.id))
    return found[:limit]


def _record(row: sa.Row[Any]) -> TraceFeedback:
    values = dict(row._mapping)
    values["thumbs"] = None if values["thumbs"] is None else bool(values["thumbs"])
    return TraceFeedback(**values)
