"""RemoteStore: the Store protocol over HTTP to an Assay server.

httpx with keep-alive, timeouts, and retries with exponential backoff and jitter on
connection failures and 408/429/502/503/504 (every call is safe to retry: reads are reads,
and batches are idempotent by (run, writer, seq)). Server errors come back as the same
Assay exceptions a local store raises: 5xx as StoreUnavailable (an outage, retried), a
4xx as the refusal it names (InvalidInput when it names none), so that the SDK's writer
sets a refused batch aside instead of retrying it for ever.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import httpx
import msgspec

from assay import errors, wire
from assay.records import (
    AliasMove,
    ArtifactDraft,
    ArtifactInfo,
    ArtifactVersion,
    Batch,
    Columns,
    EvalItem,
    Evaluation,
    EvaluationDraft,
    LineageEdge,
    LogLine,
    Manifest,
    ModelVersion,
    Project,
    RegisteredModel,
    Run,
)
from assay.store.http.credentials import key_for

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 429, 502, 503, 504})
# An answer without Assay's error body (a proxy, another server at that address), by status.
_BARE_STATUS: dict[int, type[errors.AssayError]] = {
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.StoreUnusable,  # no Assay API at this address
    405: errors.StoreUnusable,
    408: errors.StoreUnavailable,  # timeouts and rate limits pass: retried
    413: errors.LimitExceeded,
    429: errors.StoreUnavailable,
}
PART_BYTES = 8 << 20  # an evaluation body above this sends its items as blobs of about this size


class RemoteStore:
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        client: httpx.Client | None = None,
        retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.uri = url.rstrip("/")
        self.retries = retries
        key = api_key if api_key is not None else key_for(self.uri)
        headers = {"accept": wire.MSGPACK, "user-agent": "assay-client"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        if client is None:
            client = httpx.Client(base_url=self.uri, timeout=timeout)
        client.headers.update(headers)
        self._client = client

    # ---- transport -----------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise errors.StoreUnavailable(f"server {self.uri} unreachable: {exc}") from exc
            else:
                if response.status_code not in RETRY_STATUS or attempt == self.retries:
                    return self._checked(response)
            time.sleep(min(5.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _checked(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()["error"]
            code, message = str(body["code"]), str(body["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http", f"HTTP {response.status_code}: {response.text[:200]}"
        if code == "bad_filter" and "position" in body:
            raise errors.FilterSyntaxError(body["reason"], body["expression"], body["position"])
        kind = _by_code(code) or _by_status(response.status_code)
        if kind is errors.StoreUnusable:
            message = f"{self.uri} does not answer as an Assay server ({message})"
        raise kind(message)

    def _send(self, method: str, path: str, body: Any) -> httpx.Response:
        return self._call(
            method,
            path,
            content=wire.encode(body, wire.MSGPACK),
            headers={"content-type": wire.MSGPACK},
        )

    def _get(self, path: str, kind: type[T], **kwargs: Any) -> T:
        return _decode(self._call("GET", path, **kwargs), kind)

    # ---- the Store protocol --------------------------------------------------------------

    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """The server records the key's user as the actor; ``actor`` is not sent."""
        return self.write_batches([batch])[0]

    def write_batches(self, batches: Sequence[Batch]) -> list[bool]:
        response = self._send("POST", "/api/v1/batches", wire.IngestRequest(list(batches)))
        return _decode(response, wire.IngestResponse).applied

    def projects(self) -> list[Project]:
        return self._get("/api/v1/projects", list[Project])

    def run(self, run_id: str) -> Run:
        return self._get(f"/api/v1/runs/{_seg(run_id)}", Run)

    def runs(
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
        return self._get(f"/api/v1/projects/{_seg(project)}/runs", list[Run], params=params)

    def count_runs(self, project: str, filter: str | None = None) -> int:
        params = {"filter": filter} if filter else {}
        got = self._get(
            f"/api/v1/projects/{_seg(project)}/runs/count", dict[str, int], params=params
        )
        return got["count"]

    def history(self, run_id: str, keys: Sequence[str] | None = None) -> dict[str, Columns]:
        params = {"keys": list(keys)} if keys is not None else {}
        if keys is not None and not keys:
            return {}
        items = self._get(
            f"/api/v1/runs/{_seg(run_id)}/history", list[wire.SeriesWire], params=params
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
        response = self._send("POST", "/api/v1/series", ask)
        items = _decode(response, list[wire.SeriesWire])
        return {(item.run_id, item.key): wire.from_wire(item) for item in items}

    def log_lines(self, run_id: str, tail: int | None = None) -> list[LogLine]:
        params = {"tail": tail} if tail is not None else {}
        return self._get(f"/api/v1/runs/{_seg(run_id)}/logs", list[LogLine], params=params)

    def put_blob(self, data: bytes) -> str:
        response = self._call(
            "PUT",
            "/api/v1/blobs",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        return _decode(response, wire.BlobRef).digest

    def put_blobs(self, blobs: Sequence[bytes]) -> list[str]:
        return [self.put_blob(data) for data in blobs]

    def get_blob(self, digest: str) -> bytes:
        from assay.store.blobs import blob_name, verified

        blob_name(digest)  # refuse a malformed digest before asking
        return verified(digest, self._call("GET", f"/api/v1/blobs/{digest}").content, self.uri)

    # ---- artifacts and lineage -----------------------------------------------------------

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        response = self._send("POST", "/api/v1/blobs/missing", wire.Digests(list(digests)))
        return _decode(response, wire.Missing).missing

    def commit_artifact(self, draft: ArtifactDraft, actor: str | None = None) -> ArtifactVersion:
        return _decode(self._send("POST", "/api/v1/artifacts", draft), ArtifactVersion)

    def artifacts(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        params = {"type": type} if type else {}
        path = f"/api/v1/projects/{_seg(project)}/artifacts"
        return self._get(path, list[ArtifactInfo], params=params)

    def artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]:
        path = f"/api/v1/projects/{_seg(project)}/artifacts/{_seg(name)}/versions"
        return self._get(path, list[ArtifactVersion])

    def artifact_version(self, project: str, name: str, selector: str) -> ArtifactVersion:
        path = f"/api/v1/projects/{_seg(project)}/artifacts/{_seg(name)}/versions/{_seg(selector)}"
        return self._get(path, ArtifactVersion)

    def artifact_versions_by_id(self, ids: Sequence[str]) -> list[ArtifactVersion]:
        if not ids:
            return []
        response = self._send("POST", "/api/v1/artifact-versions", wire.Ids(list(ids)))
        return _decode(response, list[ArtifactVersion])

    def manifest(self, version_id: str) -> Manifest:
        return self._get(f"/api/v1/artifact-versions/{_seg(version_id)}/manifest", Manifest)

    def set_artifact_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None
    ) -> None:
        path = f"/api/v1/projects/{_seg(project)}/artifacts/{_seg(name)}/aliases/{_seg(alias)}"
        self._send("PUT", path, wire.SetAlias(version))

    def record_use(self, run_id: str, version_id: str) -> None:
        self._send("POST", f"/api/v1/runs/{_seg(run_id)}/uses", wire.UseRequest(version_id))

    def lineage_edges(
        self, run_ids: Sequence[str], version_ids: Sequence[str]
    ) -> list[LineageEdge]:
        ask = wire.LineageRequest(list(run_ids), list(version_ids))
        return _decode(self._send("POST", "/api/v1/lineage", ask), list[LineageEdge])

    # ---- model registry ------------------------------------------------------------------

    def register_model(
        self,
        version_id: str,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        ask = wire.RegisterRequest(version_id, description, tags or {})
        response = self._send("POST", f"/api/v1/models/{_seg(name)}/versions", ask)
        return _decode(response, ModelVersion)

    def models(self, project: str | None = None) -> list[RegisteredModel]:
        params = {"project": project} if project else {}
        return self._get("/api/v1/models", list[RegisteredModel], params=params)

    def model(self, name: str) -> RegisteredModel:
        return self._get(f"/api/v1/models/{_seg(name)}", RegisteredModel)

    def model_versions(self, name: str) -> list[ModelVersion]:
        return self._get(f"/api/v1/models/{_seg(name)}/versions", list[ModelVersion])

    def model_version(self, name: str, selector: str) -> ModelVersion:
        path = f"/api/v1/models/{_seg(name)}/versions/{_seg(selector)}"
        return self._get(path, ModelVersion)

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        reason: str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> AliasMove:
        ask = wire.MoveAlias(version, reason, evidence)
        response = self._send("PUT", f"/api/v1/models/{_seg(name)}/aliases/{_seg(alias)}", ask)
        return _decode(response, AliasMove)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        params = {"alias": alias} if alias else {}
        path = f"/api/v1/models/{_seg(name)}/aliases"
        return self._get(path, list[AliasMove], params=params)

    # ---- evaluations -----------------------------------------------------------------------

    def save_evaluation(self, draft: EvaluationDraft, actor: str | None = None) -> Evaluation:
        parts = item_parts(draft.items)  # each item encoded once, whichever way it travels
        if len(parts) == 1:
            whole = msgspec.structs.replace(draft, items=cast(Any, parts[0]))
            return _decode(self._send("POST", "/api/v1/evaluations", whole), Evaluation)
        digests = self._upload([_msgpack.encode(part) for part in parts])
        ask = wire.EvaluationParts(msgspec.structs.replace(draft, items=[]), digests)
        return _decode(self._send("POST", "/api/v1/evaluations/parts", ask), Evaluation)

    def _upload(self, blobs: list[bytes]) -> list[str]:
        """Every blob's digest, sending only the ones the server lacks (a retry resumes)."""
        from assay.store.blobs import digest_of

        digests = [digest_of(data) for data in blobs]
        missing = set(self.missing_blobs(digests))
        for digest, data in zip(digests, blobs, strict=True):
            if digest in missing:
                self.put_blob(data)
        return digests

    def evaluations(
        self,
        project: str | None = None,
        model_version_id: str | None = None,
        dataset_version_id: str | None = None,
        limit: int = 100,
    ) -> list[Evaluation]:
        asked = {
            "project": project,
            "model_version": model_version_id,
            "dataset_version": dataset_version_id,
        }
        params = {k: v for k, v in asked.items() if v is not None}
        return self._get("/api/v1/evaluations", list[Evaluation], params={**params, "limit": limit})

    def evaluation(self, evaluation_id: str) -> Evaluation:
        return self._get(f"/api/v1/evaluations/{_seg(evaluation_id)}", Evaluation)

    def evaluation_items(self, evaluation_id: str) -> list[EvalItem]:
        return self._get(f"/api/v1/evaluations/{_seg(evaluation_id)}/items", list[EvalItem])

    def close(self) -> None:
        self._client.close()


def _by_code(code: str) -> type[errors.AssayError] | None:
    """The error a server's code names (a request FastAPI could not parse is bad input)."""
    return errors.InvalidInput if code == "invalid_request" else errors.by_code(code)


def _by_status(status: int) -> type[errors.AssayError]:
    """The error for a status the body did not explain: 5xx is an outage (retried), a
    4xx other than 401/403/408/429 a refusal that no retry changes (InvalidInput)."""
    if status >= 500:
        return errors.StoreUnavailable
    return _BARE_STATUS.get(status, errors.InvalidInput)


def _decode(response: httpx.Response, kind: type[T]) -> T:
    content_type = response.headers.get("content-type", wire.JSON)
    try:
        return wire.decode(response.content, kind, content_type)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise errors.StoreUnavailable(f"unexpected answer from the server: {exc}") from exc


def _seg(value: str) -> str:
    """One URL path segment, escaped."""
    from urllib.parse import quote

    return quote(value, safe="")


_msgpack = msgspec.msgpack.Encoder()


def item_parts(items: Sequence[EvalItem]) -> list[list[msgspec.Raw]]:
    """Item results, each encoded once, in groups of about PART_BYTES (an item larger than
    that goes alone), in order; a group encodes as a msgpack list of items."""
    parts: list[list[msgspec.Raw]] = [[]]
    filled = 0
    for item in items:
        raw = msgspec.Raw(_msgpack.encode(item))
        if parts[-1] and filled + len(raw) > PART_BYTES:
            parts.append([])
            filled = 0
        parts[-1].append(raw)
        filled += len(raw)
    return parts
