"""Small JSON responses shared by the protocols (msgspec encodes; no validation layer)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

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
