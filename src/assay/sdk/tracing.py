"""Recording spans without OpenTelemetry: ``with assay.span(...)`` here, and
``@assay.trace`` (sdk/traced.py) over it.

    @assay.trace(kind="llm")
    def answer(question: str) -> str: ...

    with assay.span("retrieve", kind="retriever", inputs={"q": q}) as s:
        s.output = docs

Spans nest through a context variable (threads and asyncio tasks each see their own
parent); each carries its inputs and output (OpenInference's ``input.value`` and
``output.value``, as JSON), its error (status ``error``, an ``exception`` event with type,
message and stack trace, as OpenTelemetry records one) and its timing, plus any
attribute set on it. GenAI conventions such as ``gen_ai.usage.input_tokens`` give tokens
and cost, read in the tracer's thread as the span is delivered. Finished spans go to the
store through the tracer's journal (sdk/tracer.py): nothing here waits for the store,
and nothing here raises into the application.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from assay.errors import InvalidInput
from assay.records import Span, SpanEvent
from assay.sdk import state, tracer

log = logging.getLogger("assay")

# what ``kind`` may be: OpenInference's span kinds (the GenAI operation they stand for is
# read from them) and "span" for anything else
KINDS = ("span", "chain", "llm", "tool", "agent", "retriever", "embedding", "reranker", "guardrail")
MAX_VALUE_CHARS = 100_000  # an input or output longer than this, as JSON, is cut
MAX_ITEMS = 1_000  # a generator's output keeps at most this many yielded items


class OpenSpan:
    """A span being recorded: set its ``output``, attributes, model and token counts."""

    def __init__(
        self, *, name: str, kind: str, project: str, uri: str | None, parent: OpenSpan | None
    ) -> None:
        self.name = name
        self.kind = kind
        self.project = project
        self.uri = uri
        self.trace_id: str = parent.trace_id if parent is not None else secrets.token_hex(16)
        self.span_id = secrets.token_hex(8)
        self.parent_id: str | None = parent.span_id if parent is not None else None
        self.start_ns = time.time_ns()
        self.attributes: dict[str, Any] = {}
        self.events: list[SpanEvent] = []
        self.output: Any = _UNSET
        self.status = "unset"
        self.status_message = ""
        if kind != "span":
            self.attributes["openinference.span.kind"] = kind.upper()

    def set(self, key: str, value: Any) -> None:
        """One attribute (a string, number, boolean, or a list or mapping of them)."""
        self.attributes[str(key)] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        for key, value in attributes.items():
            self.set(key, value)

    def set_inputs(self, inputs: Any) -> None:
        self.attributes["input.value"] = _as_json(inputs)
        self.attributes["input.mime_type"] = "application/json"

    def set_usage(
        self,
        *,
        model: str | None = None,
        provider: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        """A model call's model and token counts (GenAI conventions: cost follows)."""
        for key, value in (
            ("gen_ai.request.model", model),
            ("gen_ai.provider.name", provider),
            ("gen_ai.usage.input_tokens", input_tokens),
            ("gen_ai.usage.output_tokens", output_tokens),
        ):
            if value is not None:
                self.attributes[key] = value

    def fail(self, exc: BaseException) -> None:
        self.status = "error"
        self.status_message = f"{type(exc).__name__}: {exc}"[:MAX_VALUE_CHARS]
        stack = "".join(traceback.format_exception(exc))[-MAX_VALUE_CHARS:]
        self.events.append(
            SpanEvent(
                name="exception",
                time_ns=time.time_ns(),
                attributes={
                    "exception.type": type(exc).__qualname__,
                    "exception.message": str(exc)[:MAX_VALUE_CHARS],
                    "exception.stacktrace": stack,
                },
            )
        )

    def finish(self) -> None:
        """Close the span and hand it to the tracer; a failure is logged, never raised."""
        try:
            if self.output is not _UNSET:
                self.attributes["output.value"] = _as_json(self.output)
                self.attributes["output.mime_type"] = "application/json"
            span = Span(
                project=self.project,
                trace_id=self.trace_id,
                span_id=self.span_id,
                parent_id=self.parent_id,
                name=self.name,
                kind="client" if self.kind in ("llm", "embedding") else "internal",
                start_ns=self.start_ns,
                end_ns=max(time.time_ns(), self.start_ns),
                status=self.status,
                status_message=self.status_message,
                attributes=self.attributes,
                resource={"service.name": self.project, "telemetry.sdk.name": "assay"},
                scope="assay",
                events=self.events,
            )
            tracer.record(span, self.uri)
        except Exception:
            log.exception("assay: span %r could not be recorded", self.name)


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
CURRENT: ContextVar[OpenSpan | None] = ContextVar("assay_span", default=None)


def current_span() -> OpenSpan | None:
    """The span open in this thread or task, if any."""
    return CURRENT.get()


def _as_json(value: Any) -> str:
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = json.dumps(repr(value))
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _project(project: str | None, parent: OpenSpan | None) -> str:
    if project is not None:
        return project
    if parent is not None:
        return parent.project
    run = state.current()
    if run is not None:
        return run.project
    return os.environ.get("ASSAY_PROJECT") or "default"


def open_span(name: str, kind: str, project: str | None, uri: str | None) -> OpenSpan:
    if kind not in KINDS:
        raise InvalidInput(f"span kind {kind!r} is not one of {', '.join(KINDS)}")
    parent = CURRENT.get()
    opened = OpenSpan(
        name=name,
        kind=kind,
        project=_project(project, parent),
        uri=uri if uri is not None else (parent.uri if parent is not None else None),
        parent=parent,
    )
    run = state.current()
    if run is not None:
        opened.attributes["assay.run_id"] = run.id
    return opened


@contextmanager
def span(
    name: str,
    kind: str = "span",
    *,
    inputs: Any = _UNSET,
    attributes: dict[str, Any] | None = None,
    project: str | None = None,
    uri: str | None = None,
) -> Iterator[OpenSpan]:
    """Record the block as a span, a child of the span open around it. The project is
    ``project``, else the parent span's, else the active run's, else ``ASSAY_PROJECT``,
    else "default"; the store is ``uri``, else the parent's, else ``ASSAY_URI``."""
    opened = open_span(name, kind, project, uri)
    if inputs is not _UNSET:
        opened.set_inputs(inputs)
    opened.set_attributes(attributes or {})
    token = CURRENT.set(opened)
    try:
        yield opened
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            opened.fail(exc)
        raise
    finally:
        CURRENT.reset(token)
        opened.finish()
