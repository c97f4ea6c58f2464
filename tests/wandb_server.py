"""A W&B server on loopback answering what ``wandb.Api`` asks of one: the GraphQL queries
its public API sends (by operation name, with the shapes it parses) and the files it
downloads (history as Parquet, as W&B serves it; the run's files). Runs are given as
plain dicts; every request is recorded, and a query the fake does not know fails the
test that sent it."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_OPERATION = re.compile(r"(?:query|mutation)\s+(\w+)")


@dataclass
class FakeRun:
    id: str
    display_name: str
    state: str = "finished"
    created_at: str = "2024-03-01T10:00:00"
    heartbeat_at: str = "2024-03-01T10:05:00"
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    history_line_count: int | None = None  # W&B's count (default: len(rows))
    broken_history: bool = False  # its Parquet file answers 500
    events: list[dict[str, Any]] = field(default_factory=list)  # system metrics, as W&B's

    def node(self, light: bool = False) -> dict[str, Any]:
        """The run as W&B's GraphQL answers it; ``light``: without the heavy fields, as
        W&B's lightweight fragment (a run listing) asks."""
        count = len(self.rows) if self.history_line_count is None else self.history_line_count
        node = {
            "id": f"run-{self.id}",
            "projectId": "7",
            "tags": self.tags,
            "name": self.id,
            "displayName": self.display_name,
            "sweepName": None,
            "state": self.state,
            "config": json.dumps({k: {"value": v, "desc": None} for k, v in self.config.items()}),
            "group": self.group,
            "jobType": self.job_type,
            "commit": None,
            "readOnly": False,
            "createdAt": self.created_at,
            "heartbeatAt": self.heartbeat_at,
            "description": self.notes,
            "notes": self.notes,
            "systemMetrics": "{}",
            "summaryMetrics": json.dumps(self.summary),
            "historyLineCount": count,
            "user": {"name": "ada", "username": "ada"},
            "historyKeys": self.history_keys(),
        }
        heavy = ("config", "systemMetrics", "summaryMetrics", "historyKeys")
        return {k: v for k, v in node.items() if not (light and k in heavy)}

    def history_keys(self) -> dict[str, Any]:
        steps = [int(r["_step"]) for r in self.rows]
        keys = {k for r in self.rows for k in r}
        return {
            "lastStep": max(steps, default=-1),
            "keys": {k: {"typeCounts": [{"type": "number", "count": 1}]} for k in keys},
        }

    def parquet(self) -> bytes:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(self.rows), buffer)
        return buffer.getvalue()


@dataclass
class FakeWandb:
    entity: str
    projects: dict[str, list[FakeRun]]
    api_key: str = "a" * 40  # the one key it accepts (W&B's basic auth, user "api")
    url: str = ""
    operations: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def run(self, name: str, project: str | None = None) -> FakeRun | None:
        runs = [r for p, rs in self.projects.items() if project in (None, p) for r in rs]
        return next((r for r in runs if r.id == name), None)

    def answer(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        match = _OPERATION.search(query)
        operation = match.group(1) if match else "?"
        self.operations.append(operation)
        light = "LightweightRunFragment" in query  # W&B's run listing without heavy fields
        if operation in ("Viewer", "GetDefaultEntity"):
            viewer = {"id": "u1", "entity": self.entity, "username": "ada", "email": ""}
            return {"viewer": {**viewer, "flags": "{}", "teams": {"edges": []}}}
        if operation == "Runs":
            return {"project": self._runs(variables, light)}
        project = variables.get("project")
        if project not in self.projects or variables.get("entity") != self.entity:
            return {"project": None}
        run = self.run(variables.get("name") or variables.get("runName") or "", project)
        if run is None:
            return {"project": {"run": None}}
        if operation == "Run":
            return {"project": {"run": run.node(light)}}
        if operation == "RunHistoryKeys":
            return {"project": {"run": {"historyKeys": run.history_keys()}}}
        if operation == "RunParquetHistory":
            urls = [f"{self.url}/history/{run.id}.parquet"] if run.rows else []
            history = {"parquetUrls": urls, "liveData": []}
            return {"project": {"run": {"parquetHistory": history}}}
        if operation == "RunFullHistory" and "events(" in query:
            sampled = run.events[: int(variables.get("samples") or 500)]
            return {"project": {"run": {"events": [json.dumps(e) for e in sampled]}}}
        if operation == "RunFiles":
            return {"project": {"internalId": "UHJvamVjdDo3", "run": self._files(run)}}
        self.unknown.append(operation)
        raise KeyError(operation)

    def _runs(self, variables: dict[str, Any], light: bool) -> dict[str, Any] | None:
        runs = self.projects.get(variables.get("project") or "")
        if runs is None or variables.get("entity") != self.entity:
            return None
        start = int(variables.get("cursor") or 0)
        page = runs[start : start + int(variables.get("perPage") or 50)]
        end = start + len(page)
        edges = [{"node": r.node(light), "cursor": str(start + i + 1)} for i, r in enumerate(page)]
        return {
            "internalId": "UHJvamVjdDo3",
            "runCount": len(runs),
            "readOnly": False,
            "runs": {
                "edges": edges,
                "pageInfo": {"endCursor": str(end), "hasNextPage": end < len(runs)},
            },
        }

    def _files(self, run: FakeRun) -> dict[str, Any]:
        edges = [
            {
                "node": {
                    "id": f"file-{run.id}-{name}",
                    "name": name,
                    "url": f"{self.url}/files/{run.id}/{name}",
                    "directUrl": f"{self.url}/files/{run.id}/{name}",
                    "sizeBytes": len(data),
                    "mimetype": "application/octet-stream",
                    "updatedAt": run.heartbeat_at,
                    "md5": None,
                },
                "cursor": name,
            }
            for name, data in sorted(run.files.items())
        ]
        page = {"edges": edges, "pageInfo": {"endCursor": None, "hasNextPage": False}}
        return {"fileCount": len(edges), "files": page}

    def download(self, path: str) -> bytes | None:
        if path.startswith("/history/"):
            run = self.run(path.removeprefix("/history/").removesuffix(".parquet"))
            return None if run is None or run.broken_history else run.parquet()
        if path.startswith("/files/"):
            run_id, _, name = path.removeprefix("/files/").partition("/")
            run = self.run(run_id)
            return None if run is None else run.files.get(name)
        return None


def _handler(fake: FakeWandb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path != "/graphql":  # the SDK's own telemetry
                return self._send(200, b"")
            sent = self.headers.get("authorization", "")
            if sent != "Basic " + base64.b64encode(f"api:{fake.api_key}".encode()).decode():
                denied = {"errors": [{"message": "user is not logged in"}]}
                return self._send(401, json.dumps(denied).encode())
            query = json.loads(body)
            try:
                data = fake.answer(query["query"], query.get("variables") or {})
            except KeyError as exc:
                error = {"errors": [{"message": f"unknown operation {exc}"}]}
                return self._send(400, json.dumps(error).encode())
            self._send(200, json.dumps({"data": data}).encode())

        def do_GET(self) -> None:
            data = fake.download(self.path)
            self._send(500, b"") if data is None else self._send(200, data)

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def serving(fake: FakeWandb) -> Iterator[FakeWandb]:
    """The fake on a free loopback port (``fake.url``) while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
