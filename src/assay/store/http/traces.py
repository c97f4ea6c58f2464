"""``store.traces`` over HTTP (server/api/traces.py answers). Spans travel as msgpack in
bodies of about PART_BYTES each."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from assay import wire
from assay.records import Span, Trace
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
