"""``store.requests`` over HTTP (server/api/requests.py answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay import wire
from assay.records import LabelResult, LoggedRequest, RequestBatch
from assay.store.http.transport import Transport, decode, seg


class HttpRequests:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def write_batch(self, batch: RequestBatch, actor: str | None = None) -> bool:
        """The server records the key's user as the actor; ``actor`` is not sent."""
        response = self.http.send("POST", "/api/v1/requests/batches", batch)
        return decode(response, wire.Applied).applied

    def label(
        self, model: str, ids: Sequence[str], labels: Sequence[Any], actor: str | None = None
    ) -> LabelResult:
        body = wire.LabelRequest(ids=list(ids), labels=list(labels))
        response = self.http.send("POST", f"/api/v1/models/{seg(model)}/labels", body)
        return decode(response, LabelResult)

    def list(
        self,
        model: str,
        *,
        version: str | None = None,
        arm: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[LoggedRequest]:
        asked = {"version": version, "arm": arm, "since": since, "until": until, "limit": limit}
        params = {k: v for k, v in asked.items() if v is not None}
        path = f"/api/v1/models/{seg(model)}/requests"
        return self.http.get(path, list[LoggedRequest], params=params)
