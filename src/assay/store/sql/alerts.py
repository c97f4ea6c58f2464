"""``store.alerts`` on SQL. Opening and resolving hold the monitor's run row (PostgreSQL:
``FOR UPDATE``; SQLite's write lock holds the store), so two schedulers never open two
incidents of one rule nor resolve one twice."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from assay.errors import InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import Alert, AlertDraft
from assay.store.facets.alerts import EVENTS, SENDING, awaiting, is_due
from assay.store.sql import audit
from assay.store.sql.schema import monitor_alerts, runs
from assay.store.sql.tx import Database, check_page


class SqlAlerts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def open(self, draft: AlertDraft, actor: str | None = None) -> Alert | None:
        _check_rule(draft.rule)
        with self.db.write("open an alert", actor) as tx:
            project = _lock_monitor(tx.conn, draft.monitor_id)
            if _open_row(tx.conn, draft.monitor_id, draft.rule) is not None:
                return None
            alert_id = new_run_id()
            row = {
                "id": alert_id,
                "project": project,
                "monitor_id": draft.monitor_id,
                "rule": draft.rule,
                "opened_step": draft.step,
                "opened_at": time.time(),
                "value": draft.value,
                "detail": draft.detail,
                "deliveries": {},
            }
            inserted = tx.conn.execute(
                tx.insert(monitor_alerts).on_conflict_do_nothing().returning(monitor_alerts.c.id),
                row,
            ).first()
            if inserted is None:  # this incident was opened and resolved already
                return None
            change = {"rule": draft.rule, "step": draft.step, "value": draft.value}
            audit.append(tx.conn, tx.actor, "alert.fired", f"run:{draft.monitor_id}", change)
            return _alert(_row(tx.conn, alert_id))

    def resolve(
        self, monitor_id: str, rule: str, step: int, value: float | None, actor: str | None = None
    ) -> Alert | None:
        with self.db.write("resolve an alert", actor) as tx:
            _lock_monitor(tx.conn, monitor_id)
            found = _open_row(tx.conn, monitor_id, rule)
            if found is None:
                return None
            tx.conn.execute(
                monitor_alerts.update()
                .where(monitor_alerts.c.id == found.id)
                .values(resolved_step=step, resolved_at=time.time(), resolved_value=value)
            )
            change = {"rule": rule, "step": step, "value": value, "alert": found.id}
            audit.append(tx.conn, tx.actor, "alert.resolved", f"run:{monitor_id}", change)
            return _alert(_row(tx.conn, found.id))

    def delivered(self, alert_id: str, event: str, outcome: dict[str, Any]) -> Alert:
        _check_event(event)
        with self.db.write("record an alert delivery") as tx:
            current = _row(tx.conn, alert_id, lock=True)
            deliveries = {**current.deliveries, event: outcome}
            tx.conn.execute(
                monitor_alerts.update()
                .where(monitor_alerts.c.id == alert_id)
                .values(deliveries=deliveries)
            )
            return _alert(_row(tx.conn, alert_id))

    def claim(self, alert_id: str, event: str, now: float, lease: float) -> Alert | None:
        _check_event(event)
        if not lease > 0:
            raise InvalidInput(f"a delivery lease is a positive number of seconds, not {lease}")
        with self.db.write("claim an alert delivery") as tx:
            current = _alert(_row(tx.conn, alert_id, lock=True))
            if not is_due(current, event, now):
                return None
            before = current.deliveries.get(event) or {"attempts": 0}
            taken = {**before, "state": SENDING, "lease_until": now + lease}
            deliveries = {**current.deliveries, event: taken}
            tx.conn.execute(
                monitor_alerts.update()
                .where(monitor_alerts.c.id == alert_id)
                .values(deliveries=deliveries)
            )
            return _alert(_row(tx.conn, alert_id))

    def undelivered(self, monitor_id: str, since: float) -> list[Alert]:
        t = monitor_alerts
        recent = sa.or_(t.c.resolved_at.is_(None), t.c.opened_at >= since, t.c.resolved_at >= since)
        query = (
            sa.select(t).where(t.c.monitor_id == monitor_id, recent).order_by(t.c.opened_at, t.c.id)
        )
        with self.db.read() as conn:
            found = [_alert(r) for r in conn.execute(query)]
        return [a for a in found if awaiting(a)]

    def get(self, alert_id: str) -> Alert:
        with self.db.read() as conn:
            return _alert(_row(conn, alert_id))

    def list(
        self,
        project: str | None = None,
        monitor_id: str | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Alert]:
        check_page("limit", limit)
        t = monitor_alerts
        query = sa.select(t).order_by(t.c.opened_at.desc(), t.c.id.desc()).limit(limit)
        if project is not None:
            query = query.where(t.c.project == project)
        if monitor_id is not None:
            query = query.where(t.c.monitor_id == monitor_id)
        if open_only:
            query = query.where(t.c.resolved_at.is_(None))
        with self.db.read() as conn:
            return [_alert(r) for r in conn.execute(query)]


def _check_rule(rule: str) -> None:
    if not rule or len(rule) > 256:
        raise InvalidInput("an alert rule is 1 to 256 characters")


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise InvalidInput(f"event must be one of {', '.join(EVENTS)}, not {event!r}")


def _lock_monitor(conn: sa.Connection, monitor_id: str) -> str:
    query = sa.select(runs.c.project).where(runs.c.id == monitor_id).with_for_update()
    found = conn.execute(query).first()
    if found is None:
        raise NotFound(f"monitor {monitor_id} does not exist")
    return str(found.project)


def _open_row(conn: sa.Connection, monitor_id: str, rule: str) -> Any:
    t = monitor_alerts
    query = sa.select(t.c.id).where(
        t.c.monitor_id == monitor_id, t.c.rule == rule, t.c.resolved_at.is_(None)
    )
    return conn.execute(query).first()


def _row(conn: sa.Connection, alert_id: str, lock: bool = False) -> Any:
    query = sa.select(monitor_alerts).where(monitor_alerts.c.id == alert_id)
    found = conn.execute(query.with_for_update() if lock else query).first()
    if found is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return found


def _alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        project=row.project,
        monitor_id=row.monitor_id,
        rule=row.rule,
        opened_step=int(row.opened_step),
        opened_at=row.opened_at,
        value=row.value,
        resolved_step=None if row.resolved_step is None else int(row.resolved_step),
        resolved_at=row.resolved_at,
        resolved_value=row.resolved_value,
        detail=dict(row.detail or {}),
        deliveries=dict(row.deliveries or {}),
    )
