"""What every facet's routes share: the caller, request bodies, and ``/whoami``."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from fastapi import APIRouter, Depends, Request, Response

from assay import wire
from assay.errors import InvalidInput
from assay.server.body import read_body
from assay.server.deps import AppState, principal, state_of
from assay.server.negotiate import body_type, reply
from assay.store.sql.auth import Principal, role_at_least

router = APIRouter(prefix="/api/v1")
Caller = Annotated[Principal, Depends(principal)]
T = TypeVar("T")


def doc(*required: str) -> dict[str, Any]:
    schema = {"type": "object", "required": list(required)}
    body = {"content": {"application/json": {"schema": schema}}, "required": True}
    return {"requestBody": body}


async def decode_body(request: Request, kind: type[T]) -> T:
    state = state_of(request)
    data = await read_body(request, state.config.max_body_bytes)
    try:
        return wire.decode(data, kind, body_type(request))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInput(f"request body does not decode as {kind.__name__}: {exc}") from None


def visible(state: AppState, who: Principal, project: str) -> bool:
    return role_at_least(state.auth.role(who, project), "viewer")


@router.get("/whoami", summary="The caller and their roles")
def whoami(request: Request, who: Caller) -> Response:
    grants = state_of(request).auth.grants_of(who.user)
    return reply(request, {"user": who.user, "is_admin": who.is_admin, "grants": grants})
