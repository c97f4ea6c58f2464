"""Reading request bodies within limits, gzip included."""

from __future__ import annotations

import zlib

from fastapi import Request

from assay.errors import InvalidInput, LimitExceeded


async def read_body(request: Request, limit: int) -> bytes:
    """The (decompressed) body, or LimitExceeded naming the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise LimitExceeded(f"request body of {declared} bytes exceeds max_body_bytes={limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(f"request body exceeds max_body_bytes={limit}")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        return _gunzip(body, limit)
    if encoding not in ("identity", ""):
        raise InvalidInput(f"content-encoding {encoding!r} is not supported (use gzip)")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"gzip body does not decompress: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise LimitExceeded(f"decompressed body exceeds max_body_bytes={limit}")
    return out
