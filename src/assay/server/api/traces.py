"""Trace routes: OTLP/HTTP ingest at ``POST /v1/traces`` (any OpenTelemetry SDK or
collector), Assay's own span writes at ``POST /api/v1/traces/spans`` (RemoteStore), and
reading traces back. Storing spans needs the writer role on their project; reading needs
viewer.

``/v1/traces`` answers as the OTLP specification says: 200 with an
ExportTraceServiceResponse in the request's encoding, its ``partial_success`` naming how
many spans were rejected and why (no valid id, no project, a project the key may not
write, a span too large); a body that does not decode is 400 with a google.rpc.Status
(and a BadRequest detail); 401/403 for the key; 413 over the body limit; 415 for another
Content-Type; 503 (retryable) when the store cannot be reached. The answer is sent only
once the spans are committed; a span sent again is stored once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from assay import wire
from assay.errors import AssayError, InvalidInput, NotFound
from assay.records import Span, TraceFeedbackDraft
from assay.server.api.common import Caller, decode_body, doc, visible
from assay.server.body import read_body
from assay.server.deps import AppState, principal, require, require_some, state_of
from assay.server.errors import log
from assay.server.negotiate import reply
from assay.store.sql.auth import Principal, role_at_least
from assay.store.sql.traces import check_span, several
from assay.traces import otlp

router = APIRouter()

RETRY_AFTER = 2  # seconds: what a 503 (the store unreachable) asks exporters to wait
# google.rpc.Code for each HTTP status an export can fail with
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (protobuf or JSON, gzip allowed)",
    openapi_extra={
        "requestBody": {
            "content": {
                otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                otlp.JSON: {"schema": {"type": "object"}},
            },
            "required": True,
        }
    },
)
async def export_traces(request: Request) -> Response:
    kind = otlp.media_type(request.headers.get("content-type"))
    if kind is None:
        shown = request.headers.get("content-type") or "none"
        message = f"Content-Type {shown!r} is not OTLP: send {otlp.PROTOBUF} or {otlp.JSON}"
        return _failure(otlp.JSON, 415, message)
    try:
        return await _export(request, kind)
    except AssayError as exc:
        if exc.status >= 500:
            log.warning("OTLP export failed: %s", exc)
        return _failure(kind, exc.status, str(exc))


async def _export(request: Request, kind: str) -> Response:
    state = state_of(request)
    who = await run_in_threadpool(principal, request)
    require_some(state, who, "writer")
    body = await read_body(request, state.config.max_body_bytes)
    header = request.headers.get(otlp.PROJECT_HEADER)
    decoded, accepted, bodies, denied = await run_in_threadpool(
        _decoded, state, who, body, kind, header
    )
    if not accepted and decoded.n_rejected:  # nothing stored: a failure, not a success
        return _failure(kind, 403 if denied == decoded.n_rejected else 400, decoded.message())
    if accepted:
        await run_in_threadpool(
            state.store.traces.write_checked, accepted, bodies, f"user:{who.user}"
        )
    return Response(otlp.success(kind, decoded.n_rejected, decoded.message()), 200, media_type=kind)


def _decoded(
    state: AppState, who: Principal, body: bytes, kind: str, header: str | None
) -> tuple[otlp.Decoded, list[Span], list[bytes], int]:
    """The export's spans decoded, and which of them the caller may store (one trip to
    a worker thread for both)."""
    decoded = otlp.decode(body, kind, header)
    return decoded, *_writable(state, who, decoded)


def _writable(
    state: AppState, who: Principal, decoded: otlp.Decoded
) -> tuple[list[Span], list[bytes], int]:
    """The decoded spans the caller may store with their stored forms, and how many it
    may not (counted as rejected, as are spans the store could not hold)."""
    roles: dict[str, bool] = {}
    accepted: list[Span] = []
    bodies: list[bytes] = []
    denied = 0
    for span in decoded.spans:
        if span.project not in roles:
            roles[span.project] = role_at_least(state.auth.role(who, span.project), "writer")
        if not roles[span.project]:
            decoded.reject(f"user {who.user!r} has no writer role on project {span.project!r}")
            denied += 1
            continue
        try:
            bodies.append(check_span(span))
        except InvalidInput as exc:
            decoded.reject(str(exc))
            continue
        accepted.append(span)
    return accepted, bodies, denied


def _failure(kind: str, status: int, message: str) -> Response:
    body = otlp.failure(kind, _RPC_CODES.get(status, 2), message, bad_request=status == 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status in (429, 503):
        headers["Retry-After"] = str(RETRY_AFTER)  # exporters wait this long, then retry
    return Response(body, status, media_type=kind, headers=headers)


# ---- Assay's own API ----------------------------------------------------------------------


@router.post(
    "/api/v1/traces/spans",
    openapi_extra=doc("spans"),
    summary="Store spans (RemoteStore's store.traces.write)",
)
async def write_spans(request: Request, who: Caller) -> Response:
    state = state_of(request)
    require_some(state, who, "writer")
    sent = await decode_body(request, wire.SpanWrite)
    for project in sorted({s.project for s in sent.spans}):
        require(state, who, project, "writer")
    added = await run_in_threadpool(state.store.traces.write, sent.spans, f"user:{who.user}")
    return reply(request, wire.SpanWritten(added=added))


@router.post(
    "/api/v1/trace-feedback",
    openapi_extra=doc("project", "trace_id"),
    summary="Feedback on a trace or a span (idempotent by its id)",
)
async def add_trace_feedback(request: Request, who: Caller) -> Response:
    """A reviewer's feedback (source ``human``) needs the viewer role on the project;
    the application's or a judge's needs writer."""
    state = state_of(request)
    draft = await decode_body(request, TraceFeedbackDraft)
    require(state, who, draft.project, "viewer" if draft.source == "human" else "writer")
    saved = await run_in_threadpool(state.store.traces.add_feedback, draft, f"user:{who.user}")
    return reply(request, saved, 201)


@router.get("/api/v1/trace-feedback", summary="Feedback on a project's traces, oldest first")
def trace_feedback(
    request: Request,
    who: Caller,
    *,
    project: Annotated[str, Query()],
    trace_id: Annotated[list[str] | None, Query()] = None,
    name: Annotated[str | None, Query()] = None,
    source: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    found = state.store.traces.feedback(project, trace_id, name=name, source=source, limit=limit)
    return reply(request, found)


@router.get("/api/v1/traces", summary="A project's traces, newest first")
def list_traces(
    request: Request,
    who: Caller,
    *,
    project: Annotated[str, Query()],
    filter: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    state = state_of(request)
    require(state, who, project, "viewer")
    return reply(request, state.store.traces.list(project, filter, limit, offset))


@router.get("/api/v1/traces/{trace_id}", summary="One trace and all its spans")
def get_trace(
    trace_id: str,
    request: Request,
    who: Caller,
    project: Annotated[str | None, Query()] = None,
) -> Response:
    state = state_of(request)
    if project is None:
        mine = [p for p in state.store.traces.projects_of(trace_id) if visible(state, who, p)]
        if not mine:
            raise NotFound(f"trace {trace_id} does not exist")
        if len(mine) > 1:
            raise several(trace_id, mine)
        project = mine[0]
    else:
        require(state, who, project, "viewer")
    return reply(request, state.store.traces.get(trace_id, project))
