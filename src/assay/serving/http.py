"""Small JSON responses shared by the protocols (msgspec encodes; no validation layer)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from assay.errors import AssayError, LimitExceeded

MAX_BODY = 64 << 20  # bytes of one request body

_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder()


def decode(body: bytes) -> Any:
    """A JSON body; msgspec.DecodeError (a ValueError) when it is not JSON."""
    return _decoder.decode(body)


def json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(content), status, headers, media_type="application/json")


def error(status: int, message: str, retry_after: int | None = None) -> Response:
    """The Open Inference Protocol's error body: ``{"error": "..."}``."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json({"error": message}, status, headers)


async def body(request: Request) -> bytes:
    """The request body; LimitExceeded past ``MAX_BODY`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise LimitExceeded(f"the body is {int(declared)} bytes; the limit is {MAX_BODY}")
    data = await request.body()
    if len(data) > MAX_BODY:
        raise LimitExceeded(f"the body is over the limit of {MAX_BODY} bytes")
    return data


def status_of(exc: Exception) -> int:
    """The error's own status (400 for bad input, 413 over a size limit), else 400."""
    return exc.status if isinstance(exc, AssayError) else 400
