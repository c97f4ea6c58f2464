"""Content negotiation: msgpack for the Assay client, JSON for everyone else."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from assay import wire


def reply(request: Request, payload: Any, status: int = 200) -> Response:
    kind = wire.MSGPACK if wire.MSGPACK in request.headers.get("accept", "") else wire.JSON
    return Response(wire.encode(payload, kind), status, media_type=kind)


def body_type(request: Request) -> str:
    kind = request.headers.get("content-type", wire.JSON).split(";")[0].strip().lower()
    return wire.MSGPACK if kind in (wire.MSGPACK, "application/x-msgpack") else wire.JSON
