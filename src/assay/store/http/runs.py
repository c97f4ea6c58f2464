"""``store.runs`` over HTTP (server/api/runs.py answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay import errors, wire
from assay.records import Batch, Columns, LogLine, Project, Run
from assay.store.http.transport import Transport, decode, seg


class HttpRuns:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """The server records the key's user as the actor; ``actor`` is not sent."""
        return self.write_batches([batch])[0]

    def write_batches(self, batches: Sequence[Batch]) -> list[bool]:
        response = self.http.send("POST", "/api/v1/batches", wire.IngestRequest(list(batches)))
        return decode(response, wire.IngestResponse).applied

    def projects(self) -> list[Project]:
        return self.http.get("/api/v1/projects", list[Project])

    def get(self, run_id: str) -> Run:
        return self.http.get(f"/api/v1/runs/{seg(run_id)}", Run)

    def count(self, project: str, filter: str | None = None) -> int:
        params = {"filter": filter} if filter else {}
        got = self.http.get(
            f"/api/v1/projects/{seg(project)}/runs/count", dict[str, int], params=params
        )
        return got["count"]

    def history(self, run_id: str, keys: Sequence[str] | None = None) -> dict[str, Columns]:
        params = {"keys": list(keys)} if keys is not None else {}
        if keys is not None and not keys:
            return {}
        items = self.http.get(
            f"/api/v1/runs/{seg(run_id)}/history", list[wire.SeriesWire], params=params
        )
        return {item.key: wire.from_wire(item) for item in items}

    def series(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        points: int = 1000,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[tuple[str, str], Columns]:
        if points < 4:
            raise errors.InvalidInput(f"points must be at least 4, not {points}")
        ask = wire.SeriesRequest(list(run_ids), list(keys), points, start, end)
        response = self.http.send("POST", "/api/v1/series", ask)
        items = decode(response, list[wire.SeriesWire])
        return {(item.run_id, item.key): wire.from_wire(item) for item in items}

    def log_lines(self, run_id: str, tail: int | None = None) -> list[LogLine]:
        params = {"tail": tail} if tail is not None else {}
        return self.http.get(f"/api/v1/runs/{seg(run_id)}/logs", list[LogLine], params=params)

    def list(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        params: dict[str, Any] = {"limit": limit, "offset": offset, "order_by": list(order_by)}
        if filter:
            params["filter"] = filter
        return self.http.get(f"/api/v1/projects/{seg(project)}/runs", list[Run], params=params)
