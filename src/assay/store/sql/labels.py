"""Label projects in SQL: one row per project (its schema as JSON), one per item, one
per annotator's turn on an item (sql/label_queue.py), one per annotator's estimated
quality, and one per piece of feedback on a model output."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import (
    FEEDBACK_KINDS,
    Annotation,
    AnnotationDraft,
    Feedback,
    FeedbackDraft,
    LabelItem,
    LabelItemDraft,
    LabelProject,
    LabelProjectDraft,
    LabelSchema,
    LabelTask,
    LoggedRequest,
    review_item_id,
)
from assay.store.sql import audit, label_queue
from assay.store.sql import requests as request_log
from assay.store.sql.label_checks import check_comment, check_draft, check_items
from assay.store.sql.schema import (
    artifact_versions,
    evaluations,
    label_feedback,
    label_items,
    label_projects,
    projects,
)
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import user_strings, user_text
from assay.values import check_project, check_text

_P = label_projects
_I = label_items


def _project(row: Any, n_items: int, n_gold: int) -> LabelProject:
    fields = {f: getattr(row, f) for f in LabelProject.__struct_fields__ if hasattr(row, f)}
    fields["schema"] = msgspec.convert(row.schema, LabelSchema)
    return LabelProject(**fields, n_items=n_items, n_gold=n_gold)


def _counts(conn: sa.Connection, project_ids: list[str]) -> dict[str, tuple[int, int]]:
    query = (
        sa.select(
            _I.c.project_id,
            sa.func.count(),
            sa.func.sum(sa.case((_I.c.is_gold, 1), else_=0)),
        )
        .where(_I.c.project_id.in_(project_ids))
        .group_by(_I.c.project_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(query)}


def get(conn: sa.Connection, project_id: str) -> LabelProject:
    row = conn.execute(sa.select(_P).where(_P.c.id == project_id)).first()
    if row is None:
        raise NotFound(f"label project {project_id} does not exist")
    return _project(row, *_counts(conn, [project_id]).get(project_id, (0, 0)))


def find(conn: sa.Connection, project: str, name: str) -> LabelProject:
    row = conn.execute(sa.select(_P.c.id).where(_P.c.project == project, _P.c.name == name)).first()
    if row is None:
        raise NotFound(f"project {project!r} has no label project named {name!r}")
    return get(conn, row.id)


def listing(conn: sa.Connection, project: str | None) -> list[LabelProject]:
    query = sa.select(_P).order_by(_P.c.created_at.desc())
    if project is not None:
        query = query.where(_P.c.project == project)
    rows = list(conn.execute(query))
    counts = _counts(conn, [r.id for r in rows])
    return [_project(r, *counts.get(r.id, (0, 0))) for r in rows]


def create(tx: Tx, draft: LabelProjectDraft) -> LabelProject:
    check_draft(draft)
    conn = tx.conn
    if conn.scalar(
        sa.select(_P.c.id).where(_P.c.project == draft.project, _P.c.name == draft.name)
    ):
        raise Conflict(
            f"project {draft.project!r} has a label project named {draft.name!r} already"
        )
    version = draft.source_version_id
    if (
        version is not None
        and conn.scalar(sa.select(artifact_versions.c.id).where(artifact_versions.c.id == version))
        is None
    ):
        raise NotFound(f"artifact version {version} does not exist")
    now = time.time()
    conn.execute(
        tx.insert(projects).on_conflict_do_nothing(), {"name": draft.project, "created_at": now}
    )
    project_id = new_run_id()
    fields = (
        "project",
        "name",
        "overlap",
        "routing",
        "min_labels",
        "confidence",
        "gold_rate",
        "budget",
    )
    conn.execute(
        _P.insert(),
        {
            **{f: getattr(draft, f) for f in fields},
            "id": project_id,
            "schema": msgspec.to_builtins(draft.schema),
            "source": draft.source,
            "source_version_id": version,
            "created_at": now,
            "created_by": tx.actor,
        },
    )
    created = get(conn, project_id)
    _insert_items(tx, created, draft.items, 0)
    audit.append(
        conn,
        tx.actor,
        "labels.created",
        f"label_project:{project_id}",
        {"project": draft.project, "name": draft.name, "items": len(draft.items)},
    )
    return get(conn, project_id)


def _insert_items(tx: Tx, project: LabelProject, items: list[LabelItemDraft], start: int) -> None:
    first = project.overlap if project.routing == "fixed" else project.min_labels
    rows = [
        {
            "project_id": project.id,
            "item_id": item.item_id,
            "position": start + i,
            "kind": item.kind,
            "data": item.data,
            "gold": item.gold,
            "is_gold": item.gold is not None,
            "needed": first,
            "taken": 0,
            "min_quality": None,
        }
        for i, item in enumerate(items)
    ]
    if rows:
        tx.conn.execute(_I.insert(), rows)


def add_items(tx: Tx, project_id: str, items: list[LabelItemDraft]) -> LabelProject:
    project = get(tx.conn, project_id)
    check_items(project.schema, items)
    ids = [i.item_id for i in items]
    clash = tx.conn.execute(
        sa.select(_I.c.item_id).where(_I.c.project_id == project_id, _I.c.item_id.in_(ids)).limit(1)
    ).scalar()
    if clash is not None:
        raise Conflict(f"label project {project.name!r} has an item {clash!r} already")
    start = tx.conn.scalar(
        sa.select(sa.func.coalesce(sa.func.max(_I.c.position) + 1, 0)).where(
            _I.c.project_id == project_id
        )
    )
    _insert_items(tx, project, items, int(start or 0))
    audit.append(
        tx.conn,
        tx.actor,
        "labels.items_added",
        f"label_project:{project_id}",
        {"items": len(items)},
    )
    return get(tx.conn, project_id)


def items(conn: sa.Connection, project_id: str) -> list[LabelItem]:
    get(conn, project_id)
    rows = conn.execute(sa.select(_I).where(_I.c.project_id == project_id).order_by(_I.c.position))
    return [LabelItem(**{f: getattr(r, f) for f in LabelItem.__struct_fields__}) for r in rows]


# ---- feedback ------------------------------------------------------------------------------


def _check_feedback(conn: sa.Connection, draft: FeedbackDraft) -> None:
    check_project(draft.project)
    if draft.kind not in FEEDBACK_KINDS:
        raise InvalidInput(
            f"feedback kind {draft.kind!r} is not one of {', '.join(FEEDBACK_KINDS)}"
        )
    if (draft.request_id is None) == (draft.evaluation_id is None):
        raise InvalidInput("feedback names either a request id or an evaluation (and its item)")
    check_text("request id", draft.request_id, 128, single_line=True)
    check_text("model name", draft.model, 128, single_line=True)
    if draft.model is not None and draft.request_id is None:
        raise InvalidInput("feedback names a model only with the request id it served")
    if draft.evaluation_id is not None:
        if draft.item_id is None:
            raise InvalidInput("feedback on an evaluation names the item (item_id)")
        owner = conn.scalar(
            sa.select(evaluations.c.project).where(evaluations.c.id == draft.evaluation_id)
        )
        if owner is None:
            raise NotFound(f"evaluation {draft.evaluation_id} does not exist")
        if owner != draft.project:
            raise InvalidInput(
                f"evaluation {draft.evaluation_id} is not in project {draft.project!r}"
            )
    check_text("item id", draft.item_id, 256, single_line=True)
    check_comment(draft.comment)
    _check_feedback_value(draft.kind, draft.value)
    user_strings("feedback value", draft.value)
    user_strings("feedback data", draft.data)


def _check_feedback_value(kind: str, value: Any) -> None:
    if kind == "rating" and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise InvalidInput(f"a rating is a finite number, not {value!r:.80}")
    if kind == "preference" and value not in ("A", "B", "tie"):
        raise InvalidInput(f"a preference is 'A', 'B' or 'tie', not {value!r:.80}")
    if kind == "correction" and (value is None or value == ""):
        raise InvalidInput("a correction needs the corrected value")


def add_feedback(tx: Tx, draft: FeedbackDraft) -> Feedback:
    """Store feedback. On a request id, the served prediction is found in the request
    log (the model named, else the one model whose log has that id), its model is kept
    with the feedback, and a correction becomes the entry's label (store.requests), the
    ground truth monitoring and evaluation read with the prediction."""
    conn = tx.conn
    _check_feedback(conn, draft)
    now = time.time()
    served = None
    if draft.request_id is not None:
        served = _served(conn, draft.request_id, draft.model)
        draft = msgspec.structs.replace(draft, model=served.model)
        if draft.kind == "correction":
            request_log.label(tx, served.model, [served.request_id], [draft.value], now)
    conn.execute(
        tx.insert(projects).on_conflict_do_nothing(), {"name": draft.project, "created_at": now}
    )
    feedback_id = new_run_id()
    if draft.label_project_id is not None:
        _route_feedback(tx, draft, feedback_id, served)
    row = {
        **{f: getattr(draft, f) for f in FeedbackDraft.__struct_fields__},
        "id": feedback_id,
        "created_at": now,
        "created_by": tx.actor,
    }
    conn.execute(label_feedback.insert(), row)
    audit.append(
        conn,
        tx.actor,
        "feedback.added",
        f"feedback:{feedback_id}",
        {
            "project": draft.project,
            "kind": draft.kind,
            "request_id": draft.request_id,
            "model": draft.model,
        },
    )
    return _feedback(
        conn.execute(sa.select(label_feedback).where(label_feedback.c.id == feedback_id)).one()
    )


def _served(conn: sa.Connection, request_id: str, model: str | None) -> LoggedRequest:
    """The request-log entry feedback is about, or an error naming what is missing."""
    found = request_log.by_id(conn, request_id, model)
    if not found:
        where = f"the request log of model {model!r}" if model else "the request log"
        raise NotFound(
            f"request {request_id!r} is not in {where} (feedback follows the prediction: "
            "send it once the server has logged the request)"
        )
    if len(found) > 1:
        models = ", ".join(repr(e.model) for e in found)
        raise InvalidInput(
            f"request id {request_id!r} was served by models {models}: name the model"
        )
    return found[0]


def _route_feedback(
    tx: Tx, draft: FeedbackDraft, feedback_id: str, served: LoggedRequest | None
) -> None:
    """Feedback for review: a new item of the label project, holding the output (from
    the request log for a served prediction) and what was said about it."""
    assert draft.label_project_id is not None
    target = get(tx.conn, draft.label_project_id)
    if target.project != draft.project:
        raise InvalidInput(f"label project {target.name!r} is not in project {draft.project!r}")
    kind = "pair" if draft.kind == "preference" else "output"
    source = {
        "request_id": draft.request_id,
        "model": draft.model,
        "evaluation_id": draft.evaluation_id,
        "item_id": draft.item_id,
    }
    logged = {}
    if served is not None and kind == "output":
        logged = {
            "input": request_log.values_of(served.inputs, served.rows),
            "output": request_log.values_of(served.outputs, served.rows),
            "version": served.version,
        }
    data = {
        **logged,
        **draft.data,
        "feedback": {"kind": draft.kind, "value": draft.value, "comment": draft.comment},
        "source": {k: v for k, v in source.items() if v is not None},
    }
    add_items(
        tx, target.id, [LabelItemDraft(item_id=review_item_id(feedback_id), kind=kind, data=data)]
    )


def _feedback(row: Any) -> Feedback:
    return Feedback(**{f: getattr(row, f) for f in Feedback.__struct_fields__})


def feedback_listing(
    conn: sa.Connection,
    project: str | None,
    request_id: str | None,
    evaluation_id: str | None,
    limit: int,
    *,
    model: str | None = None,
) -> list[Feedback]:
    f = label_feedback
    query = sa.select(f).order_by(f.c.created_at.desc(), f.c.id).limit(limit)
    for column, value in (
        (f.c.model, model),
        (f.c.project, project),
        (f.c.request_id, request_id),
        (f.c.evaluation_id, evaluation_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return [_feedback(r) for r in conn.execute(query)]


class SqlLabels:
    """``store.labels`` on SQL: the facet over this module's and label_queue's functions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, draft: LabelProjectDraft, actor: str | None = None) -> LabelProject:
        with self.db.write("create a label project", actor=actor) as tx:
            return create(tx, draft)

    def get(self, project_id: str) -> LabelProject:
        with self.db.read() as conn:
            return get(conn, project_id)

    def find(self, project: str, name: str) -> LabelProject:
        with self.db.read() as conn:
            return find(conn, project, name)

    def add_items(
        self, project_id: str, items: list[LabelItemDraft], actor: str | None = None
    ) -> LabelProject:
        with self.db.write("add label items", actor=actor) as tx:
            return add_items(tx, project_id, items)

    def items(self, project_id: str) -> list[LabelItem]:
        with self.db.read() as conn:
            return items(conn, project_id)

    def claim(self, project_id: str, annotator: str) -> LabelTask | None:
        _check_annotator(annotator)
        with self.db.write("claim a label item", actor=f"user:{annotator}") as tx:
            return label_queue.claim(tx, get(tx.conn, project_id), annotator)

    def submit(
        self, project_id: str, item_id: str, annotator: str, value: Any, comment: str | None = None
    ) -> Annotation:
        _check_annotator(annotator)
        with self.db.write("store a label", actor=f"user:{annotator}") as tx:
            return label_queue.submit(
                tx, get(tx.conn, project_id), item_id, annotator, value=value, comment=comment
            )

    def skip(
        self, project_id: str, item_id: str, annotator: str, comment: str | None = None
    ) -> Annotation:
        _check_annotator(annotator)
        with self.db.write("skip a label item", actor=f"user:{annotator}") as tx:
            return label_queue.skip(tx, get(tx.conn, project_id), item_id, annotator, comment)

    def load(self, project_id: str, labels: list[AnnotationDraft], actor: str | None = None) -> int:
        for label in labels:
            _check_annotator(label.annotator)
        with self.db.write("import labels", actor=actor) as tx:
            count = label_queue.load(tx, get(tx.conn, project_id), labels)
            audit.append(
                tx.conn,
                tx.actor,
                "labels.imported",
                f"label_project:{project_id}",
                {"labels": count},
            )
            return count

    def annotations(self, project_id: str, annotator: str | None = None) -> list[Annotation]:
        with self.db.read() as conn:
            get(conn, project_id)
            return label_queue.turns(conn, project_id, annotator)

    def route(
        self,
        project_id: str,
        needed: dict[str, int],
        min_quality: float | Mapping[str, float] | None,
        quality: dict[str, float],
        *,
        kind_quality: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        with self.db.write("route label items") as tx:
            label_queue.route(
                tx,
                get(tx.conn, project_id),
                needed,
                min_quality,
                quality,
                kind_quality=kind_quality,
            )

    def add_feedback(self, draft: FeedbackDraft, actor: str | None = None) -> Feedback:
        with self.db.write("store feedback", actor=actor) as tx:
            return add_feedback(tx, draft)

    def feedback(
        self,
        project: str | None = None,
        request_id: str | None = None,
        evaluation_id: str | None = None,
        limit: int = 100,
        *,
        model: str | None = None,
    ) -> list[Feedback]:
        check_page("limit", limit)
        with self.db.read() as conn:
            return feedback_listing(conn, project, request_id, evaluation_id, limit, model=model)

    def list(self, project: str | None = None) -> list[LabelProject]:
        with self.db.read() as conn:
            return listing(conn, project)


def _check_annotator(name: str) -> None:
    check_text("annotator", name, 128, single_line=True)
    user_text("annotator", name)
