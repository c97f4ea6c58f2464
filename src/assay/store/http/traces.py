"""``store.traces`` over HTTP (server/api/traces.py answers). Spans travel as msgpack in
bodies of about PART_BYTES each."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from assay import wire
from assay.records import Span, Trace, TraceFeedback, TraceFeedbackDraft
from assay.store.http.transport import Transport, decode, seg

PART_BYTES = 8 << 20
_msgpack = msgspec.msgpack.Encoder()


class HttpTraces:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def write(self, spans: Sequence[Span], actor: str | None = None) -> int:
        added = 0
        for part in _parts(spans):
            sent = self.http.send("POST", "/api/v1/traces/spans", wire.SpanWrite(part))
            added += decode(sent, wire.SpanWritten).added
        return added

    def get(self, trace_id: str, project: str | None = None) -> Trace:
        params = {"project": project} if project is not None else {}
        return self.http.get(f"/api/v1/traces/{seg(trace_id)}", Trace, params=params)

    def add_feedback(self, draft: TraceFeedbackDraft, actor: str | None = None) -> TraceFeedback:
        return decode(self.http.send("POST", "/api/v1/trace-feedback", draft), TraceFeedback)

    def feedback(
        self,
        project: str,
        trace_ids: Sequence[str] | None = None,
        *,
        name: str | None = None,
        source: str | None = None,
        limit: int = 10_000,
    ) -> list[TraceFeedback]:
        found: list[TraceFeedback] = []
        ids = None if trace_ids is None else sorted(set(trace_ids))
        # a long list of trace ids goes in several requests, each URL of bounded length
        for part in [None] if ids is None else [ids[i : i + 200] for i in range(0, len(ids), 200)]:
            params: dict[str, str | int | list[str]] = {"project": project, "limit": limit}
            if part is not None:
                params["trace_id"] = part
            if name is not None:
                params["name"] = name
            if source is not None:
                params["source"] = source
            found += self.http.get("/api/v1/trace-feedback", list[TraceFeedback], params=params)
        found.sort(key=lambda f: (f.created_at, f.id))
        return found[:limit]

    def list(
        self, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Trace]:
        params: dict[str, str | int] = {"project": project, "limit": limit, "offset": offset}
        if filter is not None:
            params["filter"] = filter
        return self.http.get("/api/v1/traces", list[Trace], params=params)


def _parts(spans: Sequence[Span]) -> list[list[Span]]:
    """Spans in groups of about PART_BYTES encoded (a larger span goes alone)."""
    parts: list[list[Span]] = [[]]
    filled = 0
    for span in spans:
        size = len(_msgpack.encode(span))
        if parts[-1] and filled + size > PART_BYTES:
            parts.append([])
            filled = 0
        parts[-1].append(span)
        filled += size
    return [part for part in parts if part]
