"""``store.alerts``: incidents of monitors' alert rules (docs/monitoring.md).

An incident opens when a rule begins to hold and resolves when it stops. At most one
incident of a (monitor, rule) is open at a time, whoever asks: ``open`` and ``resolve``
return None to the second of two schedulers, so one incident is delivered once. Both
are recorded in the audit log (``alert.fired``, ``alert.resolved``).
"""

from __future__ import annotations

from typing import Any, Protocol

from assay.records import Alert, AlertDraft


class Alerts(Protocol):
    def open(self, draft: AlertDraft, actor: str | None = None) -> Alert | None:
        """Open an incident; None if one of this rule is open already."""

    def resolve(
        self, monitor_id: str, rule: str, step: int, value: float | None, actor: str | None = None
    ) -> Alert | None:
        """Resolve the open incident of this rule; None if none is open."""

    def delivered(self, alert_id: str, event: str, outcome: dict[str, Any]) -> Alert:
        """Record how the webhook took the ``fired`` or ``resolved`` event."""

    def get(self, alert_id: str) -> Alert: ...

    def list(
        self,
        project: str | None = None,
        monitor_id: str | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Alert]:
        """Newest first."""
