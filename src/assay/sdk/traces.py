"""Traces in the user's process: reading them back (``Api().traces`` / ``Api().trace``).
See docs/traces.md."""

from __future__ import annotations

from typing import Any

from assay.records import Span, Trace
from assay.store.base import Store


class ApiTrace:
    """A trace's summary (trace_id, name, start/end, latency, tokens, cost, n_spans,
    n_errors, status) and its spans, read from the store the first time they are asked
    for when the trace came from a listing."""

    def __init__(self, record: Trace, store: Store) -> None:
        self._record = record
        self._store = store
        self._spans: list[Span] | None = record.spans or None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)

    @property
    def spans(self) -> list[Span]:
        """Every span of the trace, in start order."""
        if self._spans is None:
            full = self._store.traces.get(self._record.trace_id, self._record.project)
            self._spans = full.spans
        return self._spans

    @property
    def root(self) -> Span | None:
        """The span without a parent (the earliest, if several), or None while it has not
        arrived."""
        return next((s for s in self.spans if s.parent_id is None), None)

    def children(self, span_id: str) -> list[Span]:
        return [s for s in self.spans if s.parent_id == span_id]

    def __repr__(self) -> str:
        r = self._record
        return (
            f"<Trace {r.trace_id} {r.name!r} project={r.project} spans={r.n_spans} "
            f"latency={r.latency:.3f}s status={r.status}>"
        )


def traces(
    store: Store, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
) -> list[ApiTrace]:
    return [ApiTrace(t, store) for t in store.traces.list(project, filter, limit, offset)]


def trace(store: Store, trace_id: str, project: str | None = None) -> ApiTrace:
    return ApiTrace(store.traces.get(trace_id, project), store)
