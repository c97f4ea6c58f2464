"""Monitor alert routes. Opening, resolving and recording a delivery need the writer role
on the monitor's project (a scheduler acting through the server); reading needs viewer.
A listing without a project holds the projects the caller may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.records import AlertDraft
from assay.server.api.common import Caller, decode_body, doc, visible
from assay.server.deps import require, require_run, state_of
from assay.server.negotiate import reply

router = APIRouter(prefix="/api/v1")


@router.post(
    "/alerts",
    openapi_extra=doc("monitor_id", "rule", "step", "value"),
    summary="Open an incident of a monitor's alert rule (null if one is open)",
)
async def open_alert(request: Request, who: Caller) -> Response:
    state = state_of(request)
    draft = await decode_body(request, AlertDraft)
    require_run(state, who, draft.monitor_id, "writer")
    opened = await run_in_threadpool(state.store.alerts.open, draft, f"user:{who.user}")
    return reply(request, opened, 201 if opened is not None else 200)


@router.post(
    "/alerts/resolve",
    openapi_extra=doc("monitor_id", "rule", "step"),
    summary="Resolve the open incident of a monitor's alert rule (null if none is open)",
)
async def resolve_alert(request: Request, who: Caller) -> Response:
    state = state_of(request)
    ask = await decode_body(request, wire.ResolveAlert)
    require_run(state, who, ask.monitor_id, "writer")
    done = await run_in_threadpool(
        state.store.alerts.resolve, ask.monitor_id, ask.rule, ask.step, ask.value,
        f"user:{who.user}",
    )  # fmt: skip
    return reply(request, done)


@router.post(
    "/alerts/{alert_id}/deliveries",
    openapi_extra=doc("event", "outcome"),
    summary="Record how the webhook took an alert event",
)
async def alert_delivered(alert_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, state.store.alerts.get(alert_id).project, "writer")
    ask = await decode_body(request, wire.AlertDelivery)
    done = await run_in_threadpool(state.store.alerts.delivered, alert_id, ask.event, ask.outcome)
    return reply(request, done)


@router.post(
    "/alerts/{alert_id}/claims",
    openapi_extra=doc("event", "now", "lease"),
    summary="Take an alert event's webhook delivery if it is due (null if not)",
)
async def claim_delivery(alert_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    require(state, who, state.store.alerts.get(alert_id).project, "writer")
    ask = await decode_body(request, wire.ClaimDelivery)
    done = await run_in_threadpool(
        state.store.alerts.claim, alert_id, ask.event, ask.now, ask.lease
    )
    return reply(request, done)


@router.get("/alerts/undelivered", summary="A monitor's incidents with a delivery not final")
def undelivered(
    request: Request,
    who: Caller,
    monitor: Annotated[str, Query()],
    since: Annotated[float, Query()],
) -> Response:
    state = state_of(request)
    require_run(state, who, monitor, "viewer")
    return reply(request, state.store.alerts.undelivered(monitor, since))


@router.get("/alerts/{alert_id}", summary="One alert incident")
def alert(alert_id: str, request: Request, who: Caller) -> Response:
    state = state_of(request)
    found = state.store.alerts.get(alert_id)
    require(state, who, found.project, "viewer")
    return reply(request, found)


@router.get("/alerts", summary="Alert incidents, newest first")
def alerts(  # noqa: PLR0917 - query parameters
    request: Request,
    who: Caller,
    project: Annotated[str | None, Query()] = None,
    monitor: Annotated[str | None, Query()] = None,
    open_only: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
) -> Response:
    state = state_of(request)
    if project is not None:
        require(state, who, project, "viewer")
    if monitor is not None:
        require_run(state, who, monitor, "viewer")
    found = state.store.alerts.list(project, monitor, open_only, limit)
    return reply(request, [a for a in found if visible(state, who, a.project)])
