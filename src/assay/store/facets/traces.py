"""``store.traces``: traces and their spans (docs/traces.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from assay.records import Span, Trace, TraceFeedback, TraceFeedbackDraft


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

    def add_feedback(self, draft: TraceFeedbackDraft, actor: str | None = None) -> TraceFeedback:
        """Store feedback on a trace or one of its spans; a draft whose ``id`` is stored
        already returns the stored feedback (a retry stores nothing twice)."""
        ...

    def feedback(
        self,
        project: str,
        trace_ids: Sequence[str] | None = None,
        *,
        name: str | None = None,
        source: str | None = None,
        limit: int = 10_000,
    ) -> list[TraceFeedback]:
        """A project's feedback on traces (on these traces), oldest first; ``name`` and
        ``source`` narrow it."""
        ...

    def list(
        self, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Trace]:
        """A project's traces, newest first, without their spans; ``filter`` in the
        traces' filter language (docs/traces.md)."""
        ...
