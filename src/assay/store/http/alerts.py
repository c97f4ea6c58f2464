"""``store.alerts`` over HTTP (server/api/alerts.py answers)."""

from __future__ import annotations

from typing import Any

from assay import wire
from assay.records import Alert, AlertDraft
from assay.store.http.transport import Transport, decode, seg


class HttpAlerts:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def open(self, draft: AlertDraft, actor: str | None = None) -> Alert | None:
        return decode(self.http.send("POST", "/api/v1/alerts", draft), Alert | None)  # type: ignore[arg-type]

    def resolve(
        self, monitor_id: str, rule: str, step: int, value: float | None, actor: str | None = None
    ) -> Alert | None:
        ask = wire.ResolveAlert(monitor_id, rule, step, value)
        return decode(self.http.send("POST", "/api/v1/alerts/resolve", ask), Alert | None)  # type: ignore[arg-type]

    def delivered(self, alert_id: str, event: str, outcome: dict[str, Any]) -> Alert:
        ask = wire.AlertDelivery(event, outcome)
        path = f"/api/v1/alerts/{seg(alert_id)}/deliveries"
        return decode(self.http.send("POST", path, ask), Alert)

    def claim(self, alert_id: str, event: str, now: float, lease: float) -> Alert | None:
        ask = wire.ClaimDelivery(event, now, lease)
        path = f"/api/v1/alerts/{seg(alert_id)}/claims"
        return decode(self.http.send("POST", path, ask), Alert | None)  # type: ignore[arg-type]

    def undelivered(self, monitor_id: str, since: float) -> list[Alert]:
        params = {"monitor": monitor_id, "since": since}
        return self.http.get("/api/v1/alerts/undelivered", list[Alert], params=params)

    def get(self, alert_id: str) -> Alert:
        return self.http.get(f"/api/v1/alerts/{seg(alert_id)}", Alert)

    def list(
        self,
        project: str | None = None,
        monitor_id: str | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Alert]:
        asked = {"project": project, "monitor": monitor_id}
        params: dict[str, Any] = {k: v for k, v in asked.items() if v is not None}
        params.update(limit=limit, open_only=open_only)
        return self.http.get("/api/v1/alerts", list[Alert], params=params)
