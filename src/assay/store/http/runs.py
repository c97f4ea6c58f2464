"""``store.runs`` over HTTP (server/api/runs.py answers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay import errors, wire
from assay.records import Batch, Columns, LogLine, Project, Run, RunEdit
from assay.store.http.transport import Transport, decode, seg


class HttpRuns:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """The server records the key's user as the actor; ``actor`` is not sent."""
        return self.write_batches([batch])[0]

    def write_batches(self, batches: Sequence[Batch], actor: str | None = None) -> list[bool]:
        """One request; the server applies them all or none (``actor`` is not sent)."""
        response = self.http.send("POST", "/api/v1/batches", wire.IngestRequest(list(batches)))
        return decode(response, wire.IngestResponse).applied

    def projects(self) -> list[Project]:
        return self.http.get("/api/v1/projects", list[Project])

    def get(self, run_id: str) -> Run:
        return self.http.get(f"/api/v1/runs/{seg(run_id)}", Run)

    def count(self, project: str, filter: str | None = None, *, deleted: bool = False) -> int:
        params: dict[str, Any] = {"filter": filter} if filter else {}
        if deleted:
            params["deleted"] = "true"
        got = self.http.get(
            f"/api/v1/projects/{seg(project)}/runs/count", dict[str, int], params=params
        )
        return got["count"]

    def update(self, run_id: str, edit: RunEdit, actor: str | None = None) -> Run:
        """The server records the key's user as the actor; ``actor`` is not sent."""
        return decode(self.http.send("PATCH", f"/api/v1/runs/{seg(run_id)}", edit), Run)

    def delete(self, run_id: str, actor: str | None = None, *, with_artifacts: bool = False) -> Run:
        path = f"/api/v1/runs/{seg(run_id)}" + ("?with_artifacts=true" if with_artifacts else "")
        return decode(self.http.send("DELETE", path, {}), Run)

    def restore(self, run_id: str, actor: str | None = None) -> Run:
        return decode(self.http.send("POST", f"/api/v1/runs/{seg(run_id)}/restore", {}), Run)

    def move(self, run_id: str, project: str, actor: str | None = None) -> Run:
        response = self.http.send("POST", f"/api/v1/runs/{seg(run_id)}/move", wire.MoveRun(project))
        return decode(response, Run)

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
        *,
        deleted: bool = False,
    ) -> list[Run]:
        params: dict[str, Any] = {"limit": limit, "offset": offset, "order_by": list(order_by)}
        if filter:
            params["filter"] = filter
        if deleted:
            params["deleted"] = "true"
        return self.http.get(f"/api/v1/projects/{seg(project)}/runs", list[Run], params=params)
