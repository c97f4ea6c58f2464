"""The annotators' queue of a label project, concurrency-safe on both databases.

Each non-gold item holds ``taken`` slots (claimed or done labels) out of ``needed``. A
claim takes a slot with one conditional update (``taken = taken + 1 WHERE taken <
needed``): on PostgreSQL a second transaction racing for the last slot waits for the
first's row lock, re-reads the row and matches nothing; on SQLite ``BEGIN IMMEDIATE``
runs claims one after another. The annotation's primary key (project, item, annotator)
means nobody is given an item twice, whatever happened to their earlier turn.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from assay.errors import Conflict, InvalidInput, NotFound
from assay.records import Annotation, AnnotationDraft, LabelProject, LabelTask
from assay.store.sql.label_checks import check_comment, check_value
from assay.store.sql.schema import (
    label_annotations,
    label_annotator_kinds,
    label_annotators,
    label_items,
)
from assay.store.sql.tx import Tx
from assay.values import check_text

LEASE = 3600.0  # seconds a claim holds its slot before another annotator may have it
CANDIDATES = 32  # items tried per claim when other annotators win the race for them
_A = label_annotations
_I = label_items


def _annotation(row: Any) -> Annotation:
    return Annotation(
        project_id=row.project_id,
        item_id=row.item_id,
        annotator=row.annotator,
        status=row.status,
        value=row.value,
        comment=row.comment,
        claimed_at=row.claimed_at,
        done_at=row.done_at,
    )


def _task(conn: sa.Connection, project_id: str, item_id: str, claimed_at: float) -> LabelTask:
    row = conn.execute(
        sa.select(_I.c.kind, _I.c.data).where(
            _I.c.project_id == project_id, _I.c.item_id == item_id
        )
    ).one()
    return LabelTask(
        project_id=project_id, item_id=item_id, kind=row.kind, data=row.data, claimed_at=claimed_at
    )


def _release(conn: sa.Connection, project_id: str, item_ids: list[str]) -> None:
    """Give back one slot of each (non-gold) item."""
    for item_id in item_ids:
        conn.execute(
            _I.update()
            .where(_I.c.project_id == project_id, _I.c.item_id == item_id, ~_I.c.is_gold)
            .values(taken=_I.c.taken - 1)
        )


def expire(conn: sa.Connection, project_id: str, now: float) -> None:
    """Claims older than LEASE become ``expired`` and give their slot back."""
    stale = conn.execute(
        _A.update()
        .where(_A.c.project_id == project_id, _A.c.status == "claimed")
        .where(_A.c.claimed_at < now - LEASE)
        .values(status="expired")
        .returning(_A.c.item_id)
    ).scalars()
    _release(conn, project_id, list(stale))


def _open_claim(conn: sa.Connection, project_id: str, annotator: str) -> Any:
    return conn.execute(
        sa.select(_A.c.item_id, _A.c.claimed_at)
        .where(_A.c.project_id == project_id, _A.c.annotator == annotator)
        .where(_A.c.status == "claimed")
        .order_by(_A.c.claimed_at)
        .limit(1)
    ).first()


def _quality(conn: sa.Connection, project_id: str, annotator: str) -> float | None:
    return conn.scalar(
        sa.select(label_annotators.c.quality).where(
            label_annotators.c.project_id == project_id, label_annotators.c.annotator == annotator
        )
    )


def _kind_quality(conn: sa.Connection, project_id: str, annotator: str) -> dict[str, float]:
    k = label_annotator_kinds
    rows = conn.execute(
        sa.select(k.c.kind, k.c.quality).where(
            k.c.project_id == project_id, k.c.annotator == annotator
        )
    )
    return {r.kind: r.quality for r in rows}


def _kind_of_item() -> Any:
    """An item's kind for annotator quality (labeling/routing.py item_kind): the string
    ``group`` of its data, else its item kind."""
    group = _I.c.data["group"].as_string()
    return sa.func.coalesce(sa.func.nullif(group, ""), _I.c.kind)


def _suited(conn: sa.Connection, project: LabelProject, annotator: str) -> Any:
    """Items this annotator is suited to: any below ``min_labels`` or without a preferred
    quality; beyond that, where their estimated quality for the item's kind (else their
    overall quality) reaches the item's ``min_quality``."""
    suited = sa.or_(_I.c.taken < project.min_labels, _I.c.min_quality.is_(None))
    by_kind = _kind_quality(conn, project.id, annotator)
    kind = _kind_of_item()
    for name, value in by_kind.items():
        suited = sa.or_(suited, sa.and_(kind == name, _I.c.min_quality <= value))
    overall = _quality(conn, project.id, annotator)
    if overall is not None:
        other = kind.not_in(list(by_kind)) if by_kind else sa.true()
        suited = sa.or_(suited, sa.and_(other, _I.c.min_quality <= overall))
    return suited


def _unseen(project_id: str, annotator: str) -> Any:
    seen = sa.select(_A.c.item_id).where(_A.c.project_id == project_id, _A.c.annotator == annotator)
    return _I.c.item_id.not_in(seen)


def _candidates(conn: sa.Connection, project: LabelProject, annotator: str) -> list[str]:
    """Items with a free slot this annotator has not seen: those they are suited to
    (_suited) first, so a label beyond min_labels goes to an annotator good at that kind
    of item when one asks, and to anyone rather than to no one; then fewest labels."""
    later = sa.case((_suited(conn, project, annotator), 0), else_=1)
    query = (
        sa.select(_I.c.item_id)
        .where(_I.c.project_id == project.id, ~_I.c.is_gold, _I.c.taken < _I.c.needed)
        .where(_unseen(project.id, annotator))
        .order_by(later, _I.c.taken, _I.c.position)
        .limit(CANDIDATES)
    )
    return list(conn.execute(query).scalars())


def _gold(conn: sa.Connection, project_id: str, annotator: str) -> str | None:
    query = (
        sa.select(_I.c.item_id)
        .where(_I.c.project_id == project_id, _I.c.is_gold, _unseen(project_id, annotator))
        .order_by(_I.c.position)
    )
    left = list(conn.execute(query).scalars())
    return random.choice(left) if left else None


def _gold_due(conn: sa.Connection, project: LabelProject, annotator: str) -> bool:
    """Whether this turn is a gold item's: while the annotator's share of gold turns is
    below the project's gold rate (so the first turn is gold, then one in 1/rate)."""
    query = (
        sa.select(sa.func.count(), sa.func.sum(sa.case((_I.c.is_gold, 1), else_=0)))
        .select_from(
            _A.join(_I, sa.and_(_I.c.project_id == _A.c.project_id, _I.c.item_id == _A.c.item_id))
        )
        .where(_A.c.project_id == project.id, _A.c.annotator == annotator)
    )
    turns, gold = conn.execute(query).one()
    return (gold or 0) < project.gold_rate * ((turns or 0) + 1)


def _take(tx: Tx, project_id: str, item_id: str, annotator: str, now: float) -> bool:
    """Take a slot of a non-gold item and record the claim; False if none was left."""
    took = tx.conn.execute(
        _I.update()
        .where(_I.c.project_id == project_id, _I.c.item_id == item_id, _I.c.taken < _I.c.needed)
        .values(taken=_I.c.taken + 1)
    ).rowcount
    if not took:
        return False
    if _record_claim(tx, project_id, item_id, annotator, now):
        return True
    _release(tx.conn, project_id, [item_id])  # the same annotator claimed it meanwhile
    return False


def _record_claim(tx: Tx, project_id: str, item_id: str, annotator: str, now: float) -> bool:
    row = {
        "project_id": project_id,
        "item_id": item_id,
        "annotator": annotator,
        "status": "claimed",
        "claimed_at": now,
    }
    insert = tx.insert(_A).values(row).on_conflict_do_nothing()
    return bool(tx.conn.execute(insert).rowcount)


def claim(tx: Tx, project: LabelProject, annotator: str) -> LabelTask | None:
    """The annotator's next item: their open claim if they have one, else a gold item when
    one is due (_gold_due), else the first free slot; None when nothing is left."""
    now = time.time()
    expire(tx.conn, project.id, now)
    held = _open_claim(tx.conn, project.id, annotator)
    if held is not None:
        return _task(tx.conn, project.id, held.item_id, held.claimed_at)
    if project.gold_rate > 0 and _gold_due(tx.conn, project, annotator):
        gold = _gold(tx.conn, project.id, annotator)
        if gold is not None and _record_claim(tx, project.id, gold, annotator, now):
            return _task(tx.conn, project.id, gold, now)
    for item_id in _candidates(tx.conn, project, annotator):
        if _take(tx, project.id, item_id, annotator, now):
            return _task(tx.conn, project.id, item_id, now)
    return None


def _turn(conn: sa.Connection, project_id: str, item_id: str, annotator: str) -> Any:
    row = conn.execute(
        sa.select(_A).where(
            _A.c.project_id == project_id, _A.c.item_id == item_id, _A.c.annotator == annotator
        )
    ).first()
    if row is None or row.status == "expired":
        raise Conflict(
            f"item {item_id!r} is not claimed by {annotator!r} (or the claim expired): "
            "claim the next item first"
        )
    if row.status != "claimed":
        raise Conflict(f"{annotator!r} has already {row.status} item {item_id!r}")
    return row


def _finish(tx: Tx, project_id: str, item_id: str, annotator: str, **values: Any) -> Annotation:
    where = (_A.c.project_id == project_id, _A.c.item_id == item_id, _A.c.annotator == annotator)
    tx.conn.execute(_A.update().where(*where).values(done_at=time.time(), **values))
    return _annotation(tx.conn.execute(sa.select(_A).where(*where)).one())


def submit(
    tx: Tx, project: LabelProject, item_id: str, annotator: str, *, value: Any, comment: str | None
) -> Annotation:
    value = check_value(project.schema, value)
    check_comment(comment)
    _turn(tx.conn, project.id, item_id, annotator)
    return _finish(tx, project.id, item_id, annotator, status="done", value=value, comment=comment)


def skip(
    tx: Tx, project: LabelProject, item_id: str, annotator: str, comment: str | None
) -> Annotation:
    """The annotator passes: the slot goes back; they are not given the item again."""
    check_comment(comment)
    _turn(tx.conn, project.id, item_id, annotator)
    _release(tx.conn, project.id, [item_id])
    return _finish(tx, project.id, item_id, annotator, status="skipped", comment=comment)


def load(tx: Tx, project: LabelProject, labels: list[AnnotationDraft]) -> int:
    """Labels collected elsewhere, stored as done; an item's ``needed`` grows to fit."""
    known = set(
        tx.conn.execute(sa.select(_I.c.item_id).where(_I.c.project_id == project.id)).scalars()
    )
    pairs: set[tuple[str, str]] = set()
    now = time.time()
    rows = []
    for label in labels:
        if label.item_id not in known:
            raise NotFound(f"item {label.item_id!r} is not in label project {project.name!r}")
        check_comment(label.comment)
        pair = (label.item_id, label.annotator)
        if pair in pairs:
            raise InvalidInput(
                f"{label.annotator!r} labels item {label.item_id!r} twice: one label per "
                "(item, annotator)"
            )
        pairs.add(pair)
        rows.append(
            {
                "project_id": project.id,
                "item_id": label.item_id,
                "annotator": label.annotator,
                "status": "done",
                "value": check_value(project.schema, label.value, f"label of {label.item_id!r}"),
                "comment": label.comment,
                "claimed_at": now,
                "done_at": now,
            }
        )
    _refuse_existing(tx.conn, project.id, pairs)
    if rows:
        tx.conn.execute(_A.insert(), rows)
    _grow(tx.conn, project.id, [p[0] for p in pairs])
    return len(rows)


def _refuse_existing(conn: sa.Connection, project_id: str, pairs: set[tuple[str, str]]) -> None:
    items = {p[0] for p in pairs}
    if not items:
        return
    rows = conn.execute(
        sa.select(_A.c.item_id, _A.c.annotator).where(
            _A.c.project_id == project_id, _A.c.item_id.in_(items)
        )
    )
    for row in rows:
        if (row.item_id, row.annotator) in pairs:
            raise Conflict(f"{row.annotator!r} already has a turn on item {row.item_id!r}")


def _grow(conn: sa.Connection, project_id: str, item_ids: list[str]) -> None:
    counts: dict[str, int] = {}
    for item_id in item_ids:
        counts[item_id] = counts.get(item_id, 0) + 1
    for item_id, n in counts.items():
        where = (_I.c.project_id == project_id, _I.c.item_id == item_id, ~_I.c.is_gold)
        conn.execute(_I.update().where(*where).values(taken=_I.c.taken + n))
        conn.execute(_I.update().where(*where, _I.c.needed < _I.c.taken).values(needed=_I.c.taken))


def route(
    tx: Tx,
    project: LabelProject,
    needed: Mapping[str, int],
    min_quality: float | Mapping[str, float] | None,
    quality: Mapping[str, float],
    *,
    kind_quality: Mapping[str, Mapping[str, float]] | None = None,
) -> None:
    """Adaptive routing's decisions: how many labels each named item needs now (within
    min_labels..overlap), the least estimated quality for a label beyond min_labels (one
    for all the named items, or per item), each annotator's estimated quality, and
    their quality per kind of item."""
    floors = min_quality if isinstance(min_quality, Mapping) else {}
    for item_id in floors:
        if item_id not in needed:
            raise InvalidInput(f"min_quality names item {item_id!r}, which needed does not")
    for item_id, n in needed.items():
        if not project.min_labels <= n <= project.overlap:
            raise InvalidInput(
                f"item {item_id!r}: needed must be {project.min_labels} to {project.overlap}, "
                f"not {n}"
            )
        floor = floors.get(item_id) if isinstance(min_quality, Mapping) else min_quality
        _check_quality(f"min_quality of item {item_id!r}", floor)
        tx.conn.execute(
            _I.update()
            .where(_I.c.project_id == project.id, _I.c.item_id == item_id)
            .values(needed=n, min_quality=floor)
        )
    for annotator, value in quality.items():
        _check_quality(f"quality of {annotator!r}", value)
        _upsert(tx, label_annotators, project.id, annotator, value, {})
    for kind, values in (kind_quality or {}).items():
        check_text("item kind", kind, 256, single_line=True)
        for annotator, value in values.items():
            _check_quality(f"quality of {annotator!r} for {kind!r}", value)
            _upsert(tx, label_annotator_kinds, project.id, annotator, value, {"kind": kind})


def _check_quality(what: str, value: float | None) -> None:
    if value is not None and not 0 <= value <= 1:
        raise InvalidInput(f"{what} must be in [0, 1], not {value}")


def _upsert(  # noqa: PLR0917 - one row of a quality table
    tx: Tx, table: sa.Table, project_id: str, annotator: str, value: float, key: dict[str, str]
) -> None:
    tx.conn.execute(
        tx.insert(table)
        .values(project_id=project_id, annotator=annotator, quality=value, **key)
        .on_conflict_do_update(
            index_elements=["project_id", "annotator", *key], set_={"quality": value}
        )
    )


def turns(conn: sa.Connection, project_id: str, annotator: str | None) -> list[Annotation]:
    query = sa.select(_A).where(_A.c.project_id == project_id)
    if annotator is not None:
        query = query.where(_A.c.annotator == annotator)
    return [_annotation(r) for r in conn.execute(query.order_by(_A.c.claimed_at, _A.c.item_id))]
