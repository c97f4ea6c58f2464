"""UI pages for traces: a project's traces (filtered, newest first) and one trace's span
tree. The tree is drawn in the browser (static/trace.js) from one compact JSON of every
span, rendering only the rows in view, so a trace of tens of thousands of spans stays
usable; a span's attributes are fetched when it is opened. The trace page lists the
trace's feedback and holds a reviewer's form for more (source ``human``). Every route
checks viewer."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.errors import FilterSyntaxError, InvalidInput, NotFound
from assay.records import TraceFeedbackDraft
from assay.server.deps import AppState, require, state_of
from assay.server.ui.routes import Viewer, render
from assay.server.ui.session import check_csrf
from assay.store.sql.auth import Principal, role_at_least
from assay.traces import conventions

router = APIRouter(include_in_schema=False)
PAGE = 100


@router.get("/projects/{project}/traces", response_class=HTMLResponse)
def traces_page(
    request: Request,
    project: str,
    who: Viewer,
    filter: Annotated[str, Query()] = "",
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    error = None
    found = []
    try:
        found = state.store.traces.list(project, filter or None, PAGE + 1, page * PAGE)
    except FilterSyntaxError as exc:
        error = exc
    return render(
        request,
        "traces.html",
        project=project,
        traces=found[:PAGE],
        more=len(found) > PAGE,
        page=page,
        filter=filter,
        error=error,
        who=who,
    )


def _project_of(state: AppState, who: Principal, trace_id: str, project: str | None) -> str:
    if project is not None:
        require(state, who, project, "viewer")
        return project
    mine = [
        p
        for p in state.store.traces.projects_of(trace_id)
        if role_at_least(state.auth.role(who, p), "viewer")
    ]
    if not mine:
        raise NotFound(f"trace {trace_id} does not exist")
    if len(mine) > 1:
        raise InvalidInput(f"trace {trace_id} is in {', '.join(mine)}: add ?project=")
    return mine[0]


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(
    request: Request,
    trace_id: str,
    who: Viewer,
    project: Annotated[str | None, Query()] = None,
    error: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    state = state_of(request)
    chosen = _project_of(state, who, trace_id, project)
    summary = state.store.traces.list(chosen, f"trace_id == '{_hex(trace_id)}'", 1)
    if not summary:
        raise NotFound(f"trace {trace_id} does not exist in {chosen}")
    feedback = state.store.traces.feedback(chosen, [trace_id])
    return render(
        request, "trace.html", t=summary[0], who=who, feedback=feedback, feedback_error=error
    )


def _draft(project: str, trace_id: str, fields: dict[str, str]) -> TraceFeedbackDraft:
    """A reviewer's form as feedback: thumbs ``up``/``down``, a score, a correction (JSON
    if it reads as JSON, else the text), a comment; empty fields are left out."""
    score = None
    if fields["score"].strip():
        try:
            score = float(fields["score"])
        except ValueError:
            raise InvalidInput(f"score {fields['score']!r} is not a number") from None
        if not math.isfinite(score):
            raise InvalidInput("score must be a finite number")
    correction: Any = None
    if fields["correction"].strip():
        try:
            correction = json.loads(fields["correction"])
        except ValueError:
            correction = fields["correction"]
    return TraceFeedbackDraft(
        project=project,
        trace_id=trace_id,
        span_id=fields["span_id"].strip() or None,
        name=fields["name"].strip() or "review",
        source="human",
        score=score,
        thumbs={"up": True, "down": False}.get(fields["thumbs"]),
        correction=correction,
        comment=fields["comment"].strip() or None,
    )


@router.post("/ui/traces/{trace_id}/feedback", response_model=None)
async def add_feedback(  # noqa: PLR0917 - FastAPI passes one argument per form field
    request: Request,
    trace_id: str,
    who: Viewer,
    project: Annotated[str, Form(max_length=128)],
    name: Annotated[str, Form(max_length=256)] = "review",
    span_id: Annotated[str, Form(max_length=32)] = "",
    thumbs: Annotated[str, Form(max_length=8)] = "",
    score: Annotated[str, Form(max_length=64)] = "",
    correction: Annotated[str, Form(max_length=100_000)] = "",
    comment: Annotated[str, Form(max_length=100_000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A reviewer's feedback on the trace (viewer role), then the trace page again (with
    the reason when it was refused)."""
    check_csrf(request, csrf)
    state = state_of(request)
    require(state, who, project, "viewer")
    page = f"/traces/{quote(_hex(trace_id))}?project={quote(project)}"
    fields = {
        "name": name,
        "span_id": span_id,
        "thumbs": thumbs,
        "score": score,
        "correction": correction,
        "comment": comment,
    }
    try:
        draft = _draft(project, trace_id, fields)
        await run_in_threadpool(state.store.traces.add_feedback, draft, f"user:{who.user}")
    except InvalidInput as exc:
        return RedirectResponse(f"{page}&error={quote(str(exc))}#feedback", status_code=303)
    return RedirectResponse(f"{page}#feedback", status_code=303)


def _hex(value: str) -> str:
    text = value.lower()
    if not text or any(c not in "0123456789abcdef" for c in text):
        raise NotFound(f"trace {value!r} does not exist")
    return text


@router.get("/ui/traces/{trace_id}/spans")
def trace_spans(
    request: Request, trace_id: str, who: Viewer, project: Annotated[str | None, Query()] = None
) -> Response:
    """Every span of a trace as columns (what the tree draws), in start order."""
    state = state_of(request)
    chosen = _project_of(state, who, trace_id, project)
    rows = state.store.traces.outline(chosen, trace_id)
    if not rows:
        raise NotFound(f"trace {trace_id} does not exist in {chosen}")
    start = min(r.start_ns for r in rows)
    columns: dict[str, list[Any]] = {
        "id": [r.span_id for r in rows],
        "parent": [r.parent_id for r in rows],
        "name": [r.name for r in rows],
        "start_us": [(r.start_ns - start) // 1000 for r in rows],
        "duration_us": [(r.end_ns - r.start_ns) // 1000 for r in rows],
        "status": [r.status for r in rows],
        "model": [r.model for r in rows],
        "tokens": [_tokens(r.input_tokens, r.output_tokens) for r in rows],
        "cost": [r.cost for r in rows],
    }
    total = (max(r.end_ns for r in rows) - start) // 1000
    return _json({"trace_id": trace_id.lower(), "total_us": total, **columns})


def _tokens(given: int | None, made: int | None) -> int | None:
    if given is None and made is None:
        return None
    return (given or 0) + (made or 0)


@router.get("/ui/traces/{trace_id}/spans/{span_id}")
def span_detail(
    request: Request,
    trace_id: str,
    span_id: str,
    who: Viewer,
    project: Annotated[str | None, Query()] = None,
) -> Response:
    """One span whole, with its conversation and tool call read from its attributes."""
    state = state_of(request)
    span = state.store.traces.span(_project_of(state, who, trace_id, project), trace_id, span_id)
    given, answered = conventions.messages(span.attributes)
    return _json(
        {
            "span_id": span.span_id,
            "name": span.name,
            "kind": span.kind,
            "status": span.status,
            "status_message": span.status_message,
            "duration_ms": (span.end_ns - span.start_ns) / 1e6,
            "operation": span.operation,
            "model": span.model,
            "provider": span.provider,
            "input_tokens": span.input_tokens,
            "output_tokens": span.output_tokens,
            "cost": span.cost,
            "prices": span.prices,
            "attributes": span.attributes,
            "resource": span.resource,
            "events": [{"name": e.name, "attributes": e.attributes} for e in span.events],
            "input_messages": given,
            "output_messages": answered,
            "tool_call": conventions.tool_call(span.attributes),
        }
    )


def _json(payload: dict[str, Any]) -> Response:
    """JSON as msgspec writes it: an attribute's bytes as base64, NaN as null."""
    return Response(
        msgspec.json.encode(payload),
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )
