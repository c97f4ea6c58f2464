"""Incidents of the project's monitors' alert rules, oldest first, in ``alerts.jsonl``
(a monitor is a run of the project, and comes with the runs). Read back, each incident
is opened again at its step (one the target holds already is found, not doubled),
resolved if it was, and its webhook deliveries recorded as they ended; the incidents
are then compared."""

from __future__ import annotations

from assay.errors import AssayError, CorruptData
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.records import Alert, AlertDraft

MAX_ALERTS = 10_000  # incidents one read returns at most


def write(ctx: Exporting) -> None:
    found = ctx.store.alerts.list(ctx.project, limit=MAX_ALERTS)
    if len(found) == MAX_ALERTS:
        raise CorruptData(
            f"project {ctx.project} has more than {MAX_ALERTS} alert incidents, more than "
            "an export reads"
        )
    incidents = sorted(found, key=lambda a: (a.opened_at, a.id))
    ctx.counts.alerts = bundle.write_lines(ctx.root / bundle.ALERTS, incidents)


def read(job: Importing) -> None:
    for old in bundle.read_lines(job.root / bundle.ALERTS, Alert):
        if old.monitor_id not in job.runs:
            job.problem(f"alert {old.id}: its monitor {old.monitor_id} was not imported")
            continue
        try:
            new = _incident(job, old)
        except AssayError as exc:
            job.problem(f"alert {old.id} ({old.rule}): {exc}")
            continue
        if _fields(new) != _fields(old):
            job.problem(f"alert {old.id} ({old.rule}): the target holds it otherwise")
            continue
        job.found.alerts += 1


def _incident(job: Importing, old: Alert) -> Alert:
    store = job.store
    draft = AlertDraft(
        monitor_id=old.monitor_id,
        rule=old.rule,
        step=old.opened_step,
        value=old.value,
        detail=old.detail,
    )
    new = store.alerts.open(draft) or _found(job, old)
    if old.resolved_step is not None and new.resolved_step is None:
        new = store.alerts.resolve(
            old.monitor_id, old.rule, old.resolved_step, old.resolved_value
        ) or _found(job, old)
    for event, outcome in old.deliveries.items():
        if new.deliveries.get(event) != outcome:
            new = store.alerts.delivered(new.id, event, outcome)
    return new


def _found(job: Importing, old: Alert) -> Alert:
    for alert in job.store.alerts.list(monitor_id=old.monitor_id, limit=MAX_ALERTS):
        if (alert.rule, alert.opened_step) == (old.rule, old.opened_step):
            return alert
    raise CorruptData(
        f"the target has another open incident of rule {old.rule!r}, so this one cannot open"
    )


def _fields(a: Alert) -> tuple[object, ...]:
    """What an incident says (not its id nor when the target stored it)."""
    return (
        a.monitor_id,
        a.rule,
        a.opened_step,
        a.value,
        a.resolved_step,
        a.resolved_value,
        a.detail,
        a.deliveries,
    )
