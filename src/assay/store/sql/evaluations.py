"""Evaluations in SQL: one row per evaluation (its report as JSON, links to the model and
dataset versions, the baseline evaluation and the run) and one row per item call (msgpack)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import EvalItem, Evaluation, EvaluationDraft
from assay.store.sql import audit
from assay.store.sql.schema import (
    artifact_versions,
    eval_items,
    evaluations,
    projects,
    runs,
)
from assay.store.sql.tx import Database, Tx, check_page
from assay.store.validate import user_strings, user_text
from assay.values import check_project, check_text

VERDICTS = ("pass", "fail", "inconclusive")
MAX_ITEMS = 1_000_000
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EvalItem)


def _check(conn: sa.Connection, draft: EvaluationDraft) -> None:
    check_project(draft.project)
    check_text("evaluation name", draft.name, 256)
    check_text("model", draft.model, 512)
    check_text("dataset", draft.dataset, 1024)
    if draft.verdict is not None and draft.verdict not in VERDICTS:
        raise InvalidInput(f"verdict {draft.verdict!r} is not one of {', '.join(VERDICTS)}")
    if not draft.items or len(draft.items) > MAX_ITEMS:
        raise InvalidInput(f"an evaluation holds 1 to {MAX_ITEMS:,} item results")
    keys = {(i.item_id, i.repeat) for i in draft.items}
    if len(keys) != len(draft.items):
        raise InvalidInput("an evaluation's item results must have unique (item id, repeat)")
    for version_id in (draft.model_version_id, draft.dataset_version_id):
        if version_id is not None and not _exists(conn, artifact_versions.c.id, version_id):
            raise NotFound(f"artifact version {version_id} does not exist")
    if draft.baseline_id is not None and not _exists(conn, evaluations.c.id, draft.baseline_id):
        raise NotFound(f"baseline evaluation {draft.baseline_id} does not exist")
    if draft.run_id is not None and not _exists(conn, runs.c.id, draft.run_id):
        raise NotFound(f"run {draft.run_id} does not exist")


def _insert_many(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """An executemany handed straight to the driver: for tens of thousands of small rows,
    SQLAlchemy's per-row parameter processing costs more than the inserts themselves."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def _exists(conn: sa.Connection, column: sa.Column[Any], value: str) -> bool:
    return conn.scalar(sa.select(column).where(column == value)) is not None


def save(tx: Tx, draft: EvaluationDraft) -> Evaluation:
    """Store an evaluation and its items in the caller's transaction, with one audit record."""
    conn, actor = tx.conn, tx.actor
    _check(conn, draft)
    now = time.time()
    conn.execute(
        tx.insert(projects).on_conflict_do_nothing(), {"name": draft.project, "created_at": now}
    )
    evaluation_id = new_run_id()
    n_items = len({i.item_id for i in draft.items})
    n_errors = sum(1 for i in draft.items if i.error is not None)
    row = {
        **{f: getattr(draft, f) for f in _DRAFT_COLUMNS},
        "id": evaluation_id,
        "n_items": n_items,
        "n_errors": n_errors,
        "created_at": now,
        "created_by": actor,
    }
    conn.execute(evaluations.insert(), row)
    _insert_many(
        conn,
        eval_items,
        ("evaluation_id", "position", "item_id", "error", "body"),
        [
            (
                evaluation_id,
                position,
                item.item_id[:256],
                item.error is not None,
                _encoder.encode(item),
            )
            for position, item in enumerate(draft.items)
        ],
    )
    audit.append(
        conn,
        actor,
        "evaluation.created",
        f"evaluation:{evaluation_id}",
        {
            "project": draft.project,
            "model": draft.model,
            "dataset": draft.dataset,
            "baseline_id": draft.baseline_id,
            "verdict": draft.verdict,
            "items": n_items,
            "errors": n_errors,
        },
    )
    return get(conn, evaluation_id)


_DRAFT_COLUMNS = (
    "project",
    "name",
    "model",
    "model_key",
    "model_version_id",
    "dataset",
    "dataset_digest",
    "dataset_version_id",
    "baseline_id",
    "run_id",
    "verdict",
    "report",
)


def _record(row: sa.Row[Any]) -> Evaluation:
    return Evaluation(**{name: getattr(row, name) for name in Evaluation.__struct_fields__})


def get(conn: sa.Connection, evaluation_id: str) -> Evaluation:
    row = conn.execute(sa.select(evaluations).where(evaluations.c.id == evaluation_id)).first()
    if row is None:
        raise NotFound(f"evaluation {evaluation_id} does not exist")
    return _record(row)


def listing(
    conn: sa.Connection,
    project: str | None = None,
    *,
    model_version_id: str | None = None,
    dataset_version_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Evaluation]:
    """Newest first, optionally only those of a model or a dataset version."""
    order = (evaluations.c.created_at.desc(), evaluations.c.id.desc())
    query = sa.select(evaluations).order_by(*order).limit(limit).offset(offset)
    if project is not None:
        query = query.where(evaluations.c.project == project)
    if model_version_id is not None:
        query = query.where(evaluations.c.model_version_id == model_version_id)
    if dataset_version_id is not None:
        query = query.where(evaluations.c.dataset_version_id == dataset_version_id)
    return [_record(row) for row in conn.execute(query)]


def items(conn: sa.Connection, evaluation_id: str) -> list[EvalItem]:
    get(conn, evaluation_id)
    rows = conn.execute(
        sa.select(eval_items.c.body)
        .where(eval_items.c.evaluation_id == evaluation_id)
        .order_by(eval_items.c.position)
    )
    return [_decoder.decode(row.body) for row in rows]


class SqlEvaluations:
    """``store.evaluations`` on SQL: the facet over this module's functions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, draft: EvaluationDraft, actor: str | None = None) -> Evaluation:
        user_strings("report", draft.report)
        for item in draft.items:
            user_text(f"item id {item.item_id[:40]!r}", item.item_id)
        with self.db.write(actor=actor) as tx:
            return save(tx, draft)

    def get(self, evaluation_id: str) -> Evaluation:
        with self.db.read() as conn:
            return get(conn, evaluation_id)

    def items(self, evaluation_id: str) -> list[EvalItem]:
        with self.db.read() as conn:
            return items(conn, evaluation_id)

    def list(
        self,
        project: str | None = None,
        model_version_id: str | None = None,
        dataset_version_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Evaluation]:
        check_page("limit", limit)
        check_page("offset", offset)
        with self.db.read() as conn:
            return listing(
                conn,
                project,
                model_version_id=model_version_id,
                dataset_version_id=dataset_version_id,
                limit=limit,
                offset=offset,
            )
