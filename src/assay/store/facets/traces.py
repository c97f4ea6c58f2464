"""``store.traces``: traces and their spans (docs/traces.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from assay.records import Span, Trace


class Traces(Protocol):
    def write(self, spans: Sequence[Span], actor: str | None = None) -> int:
        """Store spans in one transaction and bring their traces' summaries up to date; a
        span already stored (same project, trace id and span id) is kept as it was. The
        number of spans that were new."""
        ...

    def get(self, trace_id: str, project: str | None = None) -> Trace:
        """One trace with all its spans, in start order (``project`` when the id is
        stored in more than one project)."""
        ...

    def list(
        self, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Trace]:
        """A project's traces, newest first, without their spans; ``filter`` in the
        traces' filter language (docs/traces.md)."""
        ...
