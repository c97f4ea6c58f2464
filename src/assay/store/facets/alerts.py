"""``store.alerts``: incidents of monitors' alert rules (docs/monitoring.md).

An incident opens when a rule begins to hold and resolves when it stops. At most one
incident of a (monitor, rule) is open at a time, whoever asks: ``open`` and ``resolve``
return None to the second of two schedulers, so one incident is delivered once. Both
are recorded in the audit log (``alert.fired``, ``alert.resolved``).

Each event's webhook delivery is kept on the incident (``Alert.deliveries[event]``):
``{"state", "attempts", "status", "error", "at", "first_at", "next_at", "lease_until"}``.
A delivery is **due** when it was never tried, when it is ``pending`` and its next attempt
is due, or when it is ``sending`` and the sender's lease ran out (the sender died);
``delivered`` and ``failed`` are final. ``claim`` hands a due delivery to one sender
alone, so an event is never posted by two schedulers at once. A ``resolved`` event waits
until the ``fired`` one is final, so a receiver hears of an incident in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from assay.records import Alert, AlertDraft

EVENTS = ("fired", "resolved")
SENDING, PENDING, DELIVERED, FAILED = "sending", "pending", "delivered", "failed"
FINAL = frozenset({DELIVERED, FAILED})


def delivery_state(outcome: Mapping[str, Any] | None) -> str | None:
    """The state of one event's delivery: None when never tried. An outcome without a
    state (recorded before retries were kept) is final: delivered when ``ok``."""
    if outcome is None:
        return None
    state = outcome.get("state")
    if isinstance(state, str):
        return state
    return DELIVERED if outcome.get("ok") else FAILED


def events_of(alert: Alert) -> list[str]:
    """The events an incident has had: "fired", then "resolved" once it is resolved."""
    return ["fired"] if alert.resolved_at is None else ["fired", "resolved"]


def awaiting(alert: Alert) -> list[str]:
    """The events whose delivery is not final, in the order they happened."""
    return [e for e in events_of(alert) if delivery_state(alert.deliveries.get(e)) not in FINAL]


def is_due(alert: Alert, event: str, now: float) -> bool:
    """Whether ``event``'s delivery may be attempted at ``now`` (see the module's text)."""
    if event not in events_of(alert):
        return False
    if event == "resolved" and delivery_state(alert.deliveries.get("fired")) not in FINAL:
        return False
    outcome = alert.deliveries.get(event)
    state = delivery_state(outcome)
    if state is None:
        return True
    assert outcome is not None
    if state == PENDING:
        return float(outcome.get("next_at") or 0.0) <= now
    if state == SENDING:
        return float(outcome.get("lease_until") or 0.0) <= now
    return False


class Alerts(Protocol):
    def open(self, draft: AlertDraft, actor: str | None = None) -> Alert | None:
        """Open an incident; None if one of this rule is open already."""

    def resolve(
        self, monitor_id: str, rule: str, step: int, value: float | None, actor: str | None = None
    ) -> Alert | None:
        """Resolve the open incident of this rule; None if none is open."""

    def delivered(self, alert_id: str, event: str, outcome: dict[str, Any]) -> Alert:
        """Record how the webhook took the ``fired`` or ``resolved`` event."""

    def claim(self, alert_id: str, event: str, now: float, lease: float) -> Alert | None:
        """Take the delivery of ``event`` if it is due at ``now``: it becomes ``sending``
        until ``now + lease``. None when it is not due (another sender holds it, it is
        final, or the event has not happened)."""

    def undelivered(self, monitor_id: str, since: float) -> list[Alert]:
        """The monitor's incidents with an event whose delivery is not final, oldest
        first: every open one, and those opened or resolved at or after ``since``."""

    def get(self, alert_id: str) -> Alert: ...

    def list(
        self,
        project: str | None = None,
        monitor_id: str | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Alert]:
        """Newest first."""
