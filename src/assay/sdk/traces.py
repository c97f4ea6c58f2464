"""Traces in the user's process: reading them back (``Api().traces`` / ``Api().trace``),
feedback on them (``assay.feedback(trace_id=...)``), LLM judges over them
(``TraceSet.judge``) and datasets made from them (``TraceSet.to_dataset``). See
docs/traces.md."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay import digests
from assay.errors import InvalidInput, NotFound
from assay.records import ArtifactVersion, Span, Trace, TraceFeedback, TraceFeedbackDraft
from assay.store.base import Store, open_store
from assay.traces import examples

if TYPE_CHECKING:
    from assay.evaluation.scorers import ItemScorer

Uri = str | os.PathLike[str] | None


class ApiTrace:
    """A trace's summary (trace_id, name, start/end, latency, tokens, cost, n_spans,
    n_errors, status) and its spans, read from the store the first time they are asked
    for when the trace came from a listing."""

    def __init__(self, record: Trace, store: Store) -> None:
        self._record = record
        self._store = store
        self._spans: list[Span] | None = record.spans or None
        self._feedback: list[TraceFeedback] | None = None

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
    def feedback(self) -> list[TraceFeedback]:
        """Feedback on the trace and its spans, oldest first."""
        if self._feedback is None:
            self._feedback = self._store.traces.feedback(
                self._record.project, [self._record.trace_id]
            )
        return self._feedback

    @property
    def root(self) -> Span | None:
        """The span without a parent (the earliest, if several), or None while it has not
        arrived."""
        return next((s for s in self.spans if s.parent_id is None), None)

    def children(self, span_id: str) -> list[Span]:
        return [s for s in self.spans if s.parent_id == span_id]

    @property
    def inputs(self) -> Any:
        """What the application was asked (docs/traces.md, "Datasets from traces")."""
        return examples.inputs(self.spans)

    @property
    def output(self) -> Any:
        """What it answered."""
        return examples.output(self.spans)

    def example(self) -> dict[str, Any]:
        """The trace as a dataset row: trace_id, input, traced_output, expected (the
        latest correction), feedback (name -> latest value), models, prompts."""
        return examples.row(self._record.trace_id, self.spans, self.feedback)

    def __repr__(self) -> str:
        r = self._record
        return (
            f"<Trace {r.trace_id} {r.name!r} project={r.project} spans={r.n_spans} "
            f"latency={r.latency:.3f}s status={r.status}>"
        )


class TraceSet(list[ApiTrace]):
    """Traces selected by a filter (what ``Api().traces`` returns): a list, plus feedback
    read in one request, LLM judges run over them, and a dataset made of them."""

    def __init__(
        self, items: Iterable[ApiTrace], *, store: Store, project: str, filter: str | None
    ) -> None:
        super().__init__(items)
        self.store = store
        self.project = project
        self.filter = filter

    def load_feedback(self) -> list[TraceFeedback]:
        """Every trace's feedback, read at once (each trace's ``.feedback`` then holds
        its own)."""
        found = self.store.traces.feedback(self.project, [t.trace_id for t in self])
        by_trace: dict[str, list[TraceFeedback]] = {t.trace_id: [] for t in self}
        for item in found:
            by_trace.setdefault(item.trace_id, []).append(item)
        for trace in self:
            trace._feedback = by_trace[trace.trace_id]
        return found

    def judge(self, scorer: ItemScorer, *, name: str | None = None) -> list[TraceFeedback]:
        """Score each trace with an evaluation scorer (``assay.scorers.llm_judge(...)``,
        ``contains``, ``custom``, ...): its item is the trace's row (``input``,
        ``traced_output``, ``expected``, ...) and its output the trace's output; each
        score is stored as feedback of source ``judge`` under ``name`` (default: the
        scorer's). A trace judged under that name already is skipped, so running a
        judge again costs only
        the new traces."""
        label = name or scorer.name
        self.load_feedback()
        written: list[TraceFeedback] = []
        for trace in self:
            if any(f.source == "judge" and f.name == label for f in trace.feedback):
                continue
            row = trace.example()
            scored = scorer.score(row, row["traced_output"], "expected")
            if scored.value is None:
                continue
            draft = TraceFeedbackDraft(
                project=self.project,
                trace_id=trace.trace_id,
                name=label,
                source="judge",
                score=float(scored.value),
                data={k: str(v) for k, v in scored.details.items()},
                id=_judge_id(trace.trace_id, label),
            )
            saved = self.store.traces.add_feedback(draft)
            trace.feedback.append(saved)
            written.append(saved)
        return written

    def to_dataset(
        self,
        name: str,
        *,
        project: str | None = None,
        aliases: Sequence[str] = (),
        description: str | None = None,
    ) -> ArtifactVersion:
        """A dataset artifact version (``traces.jsonl``: one row per trace, see
        ``ApiTrace.example``) in ``project`` (default: the traces'), its metadata naming
        the filter, the traces, and the models and prompt versions they called; produced
        by the active run when there is one, which records the prompt versions stored as
        artifacts as used. The same traces and feedback give the same version."""
        from assay.artifacts.artifact import Artifact, log_artifact
        from assay.sdk.module import active_run

        if not self:
            raise InvalidInput(f"no traces to make dataset {name!r} of: the filter chose none")
        self.load_feedback()
        rows = [t.example() for t in self]
        models = sorted({m for r in rows for m in r["models"]})
        prompts = sorted({p for r in rows for p in r["prompts"]})
        target = project or self.project
        run = active_run()
        used = _prompt_versions(self.store, prompts, self.project)
        metadata = {
            "source": "traces",
            "project": self.project,
            "filter": self.filter,
            "traces": [r["trace_id"] for r in rows],
            "models": models,
            "prompts": prompts,
            "prompt_versions": [v.id for v in used],
        }
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "traces.jsonl"
            path.write_text(
                "".join(json.dumps(r, ensure_ascii=False, default=repr) + "\n" for r in rows),
                encoding="utf-8",
            )
            art = Artifact(name, type="dataset", description=description, metadata=metadata)
            art.add_file(path)
            version = log_artifact(
                store=self.store,
                artifact=art,
                project=target,
                run_id=run.id if run is not None and run.project == target else None,
                aliases=list(aliases),
            )
        if run is not None and run.project == target:
            for prompt in used:
                self.store.artifacts.record_use(run.id, prompt.id)
        return version


def _judge_id(trace_id: str, name: str) -> str:
    return "judge-" + digests.of_value([trace_id, name])[:40]


def _prompt_versions(store: Store, prompts: list[str], project: str) -> list[ArtifactVersion]:
    """The prompt versions stored as artifacts (type ``prompt``), of those named."""
    from assay.artifacts.artifact import resolve

    found = []
    for ref in prompts:
        try:
            version = resolve(store, ref if ":" in ref else f"{ref}:latest", project)
        except (NotFound, InvalidInput):
            continue
        if version.type == "prompt":
            found.append(version)
    return found


def traces(
    store: Store, project: str, filter: str | None = None, limit: int = 100, offset: int = 0
) -> TraceSet:
    found = [ApiTrace(t, store) for t in store.traces.list(project, filter, limit, offset)]
    return TraceSet(found, store=store, project=project, filter=filter)


def trace(store: Store, trace_id: str, project: str | None = None) -> ApiTrace:
    return ApiTrace(store.traces.get(trace_id, project), store)


def _project(project: str | None, trace_id: str) -> str:
    """The project of feedback: ``project``, else the open span's when it is of this
    trace, else the active run's, else ``ASSAY_PROJECT``, else ``default``."""
    from assay.sdk import state
    from assay.sdk.tracing import current_span

    if project is not None:
        return project
    span = current_span()
    if span is not None and span.trace_id == trace_id.lower():
        return span.project
    run = state.current()
    if run is not None:
        return run.project
    return os.environ.get("ASSAY_PROJECT") or "default"


def trace_feedback(
    trace_id: str,
    *,
    span_id: str | None = None,
    name: str = "feedback",
    score: float | None = None,
    thumbs: bool | None = None,
    correction: Any = None,
    comment: str | None = None,
    source: str = "app",
    data: dict[str, Any] | None = None,
    id: str | None = None,
    project: str | None = None,
    uri: Uri = None,
    store: Store | None = None,
) -> TraceFeedback:
    """Store feedback on a trace or one of its spans (``assay.feedback(trace_id=...)``).
    It carries an id (``id=``, else a new one) so a retried call stores it once."""
    draft = TraceFeedbackDraft(
        project=_project(project, trace_id),
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        source=source,
        score=score,
        thumbs=thumbs,
        correction=correction,
        comment=comment,
        data=data or {},
        id=id or uuid.uuid4().hex,
    )
    if store is not None:
        return store.traces.add_feedback(draft)
    opened = open_store(uri)
    try:
        return opened.traces.add_feedback(draft)
    finally:
        opened.close()


_TRACE_ONLY = ("span_id", "name", "score", "thumbs", "correction", "source", "id")


def feedback(*args: Any, trace_id: str | None = None, **kwargs: Any) -> Any:
    """Feedback from the application. With ``trace_id=``: on a trace or one of its spans
    (``span_id``), a ``score``, ``thumbs``, ``correction`` and/or ``comment`` under a
    ``name`` (see ``trace_feedback``). Without it: on a served prediction or an
    evaluation item, as ``assay.sdk.labels.feedback`` (project, kind, value,
    request_id=... or evaluation_id=..., item_id=...)."""
    if trace_id is not None:
        if args:
            raise InvalidInput("feedback on a trace takes keywords only (trace_id=, score=, ...)")
        return trace_feedback(trace_id, **kwargs)
    stray = [k for k in _TRACE_ONLY if k in kwargs]
    if stray:
        raise InvalidInput(f"{', '.join(stray)} is feedback on a trace: give trace_id= too")
    from assay.sdk.labels import feedback as prediction_feedback

    return prediction_feedback(*args, **kwargs)
