"""A W&B server on loopback answering what ``wandb.Api`` asks of one: the GraphQL queries
its public API sends (by operation name, with the shapes it parses) and the files it
downloads (history as Parquet, as W&B serves it; the run's files). Runs are given as
plain dicts; every request is recorded, and a query the fake does not know fails the
test that sent it."""

from __future__ import annotations

import base64
import hashlib
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
class FakeArtifact:
    """A version of a W&B artifact a run logged: its files (path -> bytes), references
    (path -> URI) and what W&B keeps beside them."""

    name: str
    type: str
    version: int
    files: dict[str, bytes]
    refs: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    served: dict[str, bytes] = field(default_factory=dict)  # bytes storage serves instead

    @property
    def id(self) -> str:
        return f"art-{self.name}-{self.version}"

    def node(self, entity: str, project: str) -> dict[str, Any]:
        """The version as W&B's ArtifactFragment answers it."""
        where = {"id": "p7", "internalId": "7", "name": project, "entity": {"name": entity}}
        sequence = {"__typename": "ArtifactSequence", "name": self.name, "project": where}
        aliases = [
            {
                "artifactCollection": sequence,
                "__typename": "ArtifactAlias",
                "id": f"al-{a}",
                "alias": a,
            }
            for a in [*self.aliases, f"v{self.version}"]
        ]
        return {
            "__typename": "Artifact",
            "id": self.id,
            "artifactSequence": sequence,
            "versionIndex": self.version,
            "artifactType": {"name": self.type},
            "description": self.description,
            "metadata": json.dumps(self.metadata),
            "ttlDurationSeconds": -1,
            "ttlIsInherited": True,
            "tags": [],
            "historyStep": None,
            "state": "COMMITTED",
            "size": sum(len(d) for d in self.files.values()),
            "digest": f"digest-{self.id}",
            "digestAlgorithm": "MANIFEST_MD5",
            "commitHash": "0" * 12,
            "fileCount": len(self.files) + len(self.refs),
            "createdAt": "2024-03-01T10:01:00",
            "updatedAt": None,
            "aliases": aliases,
        }

    def manifest(self) -> bytes:
        """The manifest as W&B stores it (W&B's ``wandb-storage-policy-v1``)."""
        contents: dict[str, Any] = {
            path: {"digest": _md5(data), "size": len(data)} for path, data in self.files.items()
        }
        for path, uri in self.refs.items():
            contents[path] = {"digest": uri, "ref": uri, "size": 0}
        return json.dumps(
            {
                "version": 1,
                "storagePolicy": "wandb-storage-policy-v1",
                "storagePolicyConfig": {"storageLayout": "V2"},
                "contents": contents,
            }
        ).encode()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


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
    artifacts: list[FakeArtifact] = field(default_factory=list)  # the versions it logged

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
        """The rows as one Parquet table: every key a column (None where a row lacks it);
        a media value (a dict) a struct column, which W&B's client reads back as a dict."""
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buffer = io.BytesIO()
        table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in self.rows])
        pq.write_table(table, buffer)
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
        if operation == "ServerFeaturesQuery":
            return {"serverInfo": {"features": []}}
        if operation == "FetchArtifactManifest":
            found = self._artifact(variables["id"])
            url = f"{self.url}/manifests/{variables['id']}"
            return {"artifact": found and {"currentManifest": {"file": {"directUrl": url}}}}
        if operation == "GetArtifactMembershipFileUrls":
            return {"project": self._file_urls(variables)}
        project = variables.get("project")
        if project not in self.projects or variables.get("entity") != self.entity:
            return {"project": None}
        name = variables.get("name") or variables.get("runName") or variables.get("run")
        run = self.run(name or "", project)
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
        if operation == "RunOutputArtifacts":
            edges = [{"node": a.node(self.entity, project)} for a in run.artifacts]
            page = {"__typename": "PageInfo", "endCursor": None, "hasNextPage": False}
            connection = {"totalCount": len(edges), "pageInfo": page, "edges": edges}
            return {"project": {"run": {"artifacts": connection}}}
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

    def _artifact(self, artifact_id: str) -> FakeArtifact | None:
        every = (a for runs in self.projects.values() for r in runs for a in r.artifacts)
        return next((a for a in every if a.id == artifact_id), None)

    def _file_urls(self, variables: dict[str, Any]) -> dict[str, Any] | None:
        version = int(str(variables["alias"]).removeprefix("v"))
        found = next(
            (
                a
                for runs in self.projects.values()
                for r in runs
                for a in r.artifacts
                if (a.name, a.version) == (variables["collection"], version)
            ),
            None,
        )
        if found is None:
            return None
        page = {"__typename": "PageInfo", "endCursor": None, "hasNextPage": False}
        edges = [
            {
                "node": {
                    "__typename": "File",
                    "name": path,
                    "directUrl": f"{self.url}/artifact-files/{found.id}/{path}",
                }
            }
            for path in found.files
        ]
        membership = {"files": {"pageInfo": page, "edges": edges}}
        return {
            "artifactCollection": {
                "__typename": "ArtifactSequence",
                "artifactMembership": membership,
            }
        }

    def download(self, path: str) -> bytes | None:
        if path.startswith("/history/"):
            run = self.run(path.removeprefix("/history/").removesuffix(".parquet"))
            return None if run is None or run.broken_history else run.parquet()
        if path.startswith("/manifests/"):
            found = self._artifact(path.removeprefix("/manifests/"))
            return None if found is None else found.manifest()
        if path.startswith("/artifact-files/"):
            artifact_id, _, name = path.removeprefix("/artifact-files/").partition("/")
            found = self._artifact(artifact_id)
            return None if found is None else found.served.get(name, found.files.get(name))
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
