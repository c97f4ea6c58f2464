"""``store.prompts`` on SQL: the labels of prompts. Every move is a row of
``prompt_labels`` (so the table is the history) and an audit record; a label's target is
its latest row. A split is checked as a traffic policy's is (store/sql/traffic.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput, NotFound
from assay.records import PromptLabel
from assay.store.sql import audit, catalog, traffic
from assay.store.sql.schema import artifacts, prompt_labels
from assay.store.sql.tx import Database, Tx
from assay.values import check_alias, check_name, check_project, check_text

PROMPT_TYPE = "prompt"
_VERSION = re.compile(r"^v?([0-9]{1,9})$")


def version_arm(arm: object) -> str:
    """A split's arm as stored: a version number without its ``v`` (``"7"``)."""
    found = _VERSION.match(str(arm)) if isinstance(arm, str | int) else None
    if found is None or isinstance(arm, bool):
        raise InvalidInput(f"split arm {arm!r} must be a version of the prompt, as v7")
    return str(int(found[1]))


def _versions(conn: sa.Connection, project: str, prompt: str) -> set[int]:
    kind = conn.scalar(
        sa.select(artifacts.c.type).where(
            artifacts.c.project == project, artifacts.c.name == prompt
        )
    )
    if kind != PROMPT_TYPE:
        raise NotFound(f"project {project!r} has no prompt {prompt!r}")
    return {v.version for v in catalog.versions_of(conn, project, prompt)}


def _latest(conn: sa.Connection, project: str, prompt: str, label: str) -> PromptLabel | None:
    row = conn.execute(
        sa.select(prompt_labels)
        .where(
            prompt_labels.c.project == project,
            prompt_labels.c.prompt == prompt,
            prompt_labels.c.label == label,
        )
        .order_by(prompt_labels.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _label(row)


def set_label(
    tx: Tx,
    project: str,
    prompt: str,
    label: str,
    split: dict[str, float] | None,
    *,
    reason: str | None,
    evidence: str | None,
) -> PromptLabel:
    conn, actor = tx.conn, tx.actor
    check_project(project)
    check_name("prompt name", prompt)
    check_alias(label)
    check_text("reason", reason, limit=10_000)
    check_text("evidence", evidence)
    known = _versions(conn, project, prompt)
    found = _latest(conn, project, prompt, label)
    previous = found.split if found is not None else {}
    if split is None:
        if not previous:
            raise NotFound(f"prompt {project}/{prompt} has no label {label!r}")
        chosen: dict[str, float] = {}
    else:
        chosen = traffic.weights(split, version_arm)
        for arm in chosen:
            if int(arm) not in known:
                have = ", ".join(f"v{n}" for n in sorted(known))
                raise InvalidInput(
                    f"prompt {project}/{prompt} has no version v{arm} (it has {have})"
                )
    move = PromptLabel(
        project=project,
        prompt=prompt,
        label=label,
        split=traffic.ordered(chosen),
        previous=previous,
        actor=actor[:128],
        reason=reason,
        evidence=evidence,
        at=time.time(),
    )
    conn.execute(prompt_labels.insert(), [msgspec.structs.asdict(move)])
    action = "prompt.label_moved" if chosen else "prompt.label_removed"
    change = {"split": chosen, "previous": previous, "reason": reason, "evidence": evidence}
    audit.append(conn, actor, action, f"prompt:{project}/{prompt}@{label}", change)
    return move


def label_of(conn: sa.Connection, project: str, prompt: str, label: str) -> PromptLabel:
    _versions(conn, project, prompt)
    found = _latest(conn, project, prompt, label)
    if found is None or not found.active:
        raise NotFound(f"prompt {project}/{prompt} has no label {label!r}")
    return found


def history(
    conn: sa.Connection, project: str, prompt: str, label: str | None = None
) -> list[PromptLabel]:
    _versions(conn, project, prompt)
    query = sa.select(prompt_labels).where(
        prompt_labels.c.project == project, prompt_labels.c.prompt == prompt
    )
    if label is not None:
        query = query.where(prompt_labels.c.label == label)
    rows = conn.execute(query.order_by(prompt_labels.c.id.desc())).all()
    return [_label(r) for r in rows]


def current(conn: sa.Connection, project: str, prompt: str | None = None) -> list[PromptLabel]:
    """The labels now (latest row per label, removed ones left out), by prompt and label."""
    newest = sa.select(sa.func.max(prompt_labels.c.id)).where(prompt_labels.c.project == project)
    if prompt is not None:
        newest = newest.where(prompt_labels.c.prompt == prompt)
    newest = newest.group_by(prompt_labels.c.prompt, prompt_labels.c.label)
    rows = conn.execute(
        sa.select(prompt_labels)
        .where(prompt_labels.c.id.in_(newest.scalar_subquery()))
        .order_by(prompt_labels.c.prompt, prompt_labels.c.label)
    ).all()
    return [found for found in map(_label, rows) if found.active]


def _shares(value: Any) -> dict[str, float]:
    return traffic.ordered({str(k): float(v) for k, v in (value or {}).items()})


def _label(row: sa.Row[Any]) -> PromptLabel:
    return PromptLabel(
        project=row.project,
        prompt=row.prompt,
        label=row.label,
        split=_shares(row.split),
        previous=_shares(row.previous),
        actor=row.actor,
        reason=row.reason,
        evidence=row.evidence,
        at=row.at,
    )


class SqlPrompts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set_label(
        self,
        project: str,
        prompt: str,
        label: str,
        split: dict[str, float] | None,
        *,
        reason: str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> PromptLabel:
        with self.db.write(actor=actor) as tx:
            return set_label(tx, project, prompt, label, split, reason=reason, evidence=evidence)

    def label(self, project: str, prompt: str, label: str) -> PromptLabel:
        with self.db.read() as conn:
            return label_of(conn, project, prompt, label)

    def labels(self, project: str, prompt: str) -> list[PromptLabel]:
        with self.db.read() as conn:
            _versions(conn, project, prompt)
            return current(conn, project, prompt)

    def history(self, project: str, prompt: str, label: str | None = None) -> list[PromptLabel]:
        with self.db.read() as conn:
            return history(conn, project, prompt, label)

    def list(self, project: str) -> list[PromptLabel]:
        with self.db.read() as conn:
            return current(conn, project)
