"""The HTTP transport every RemoteStore facet shares.

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
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from assay import errors, wire

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


class Transport:
    """Requests to one server: retried, with errors translated to Assay's exceptions."""

    def __init__(self, uri: str, client: httpx.Client, retries: int) -> None:
        self.uri = uri
        self.client = client
        self.retries = retries

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, path, **kwargs)
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

    def send(self, method: str, path: str, body: Any) -> httpx.Response:
        """A msgpack body."""
        return self.call(
            method,
            path,
            content=wire.encode(body, wire.MSGPACK),
            headers={"content-type": wire.MSGPACK},
        )

    def get(self, path: str, kind: type[T], **kwargs: Any) -> T:
        return decode(self.call("GET", path, **kwargs), kind)

    def close(self) -> None:
        self.client.close()


def _by_code(code: str) -> type[errors.AssayError] | None:
    """The error a server's code names (a request FastAPI could not parse is bad input)."""
    return errors.InvalidInput if code == "invalid_request" else errors.by_code(code)


def _by_status(status: int) -> type[errors.AssayError]:
    """The error for a status the body did not explain: 5xx is an outage (retried), a
    4xx other than 401/403/408/429 a refusal that no retry changes (InvalidInput)."""
    if status >= 500:
        return errors.StoreUnavailable
    return _BARE_STATUS.get(status, errors.InvalidInput)


def decode(response: httpx.Response, kind: type[T]) -> T:
    content_type = response.headers.get("content-type", wire.JSON)
    try:
        return wire.decode(response.content, kind, content_type)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise errors.StoreUnavailable(f"unexpected answer from the server: {exc}") from exc


def seg(value: str) -> str:
    """One URL path segment, escaped."""
    return quote(value, safe="")
