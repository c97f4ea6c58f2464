"""LLM traces and the feedback on them: ``traces.jsonl`` (one trace per line, with all
its spans as they were stored) and ``trace_feedback.jsonl``. Read back, spans keep
their ids and every attribute, and feedback keeps its id, so a second import adds
nothing; a span or a feedback the target then lacks or holds otherwise is named."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from assay.errors import AssayError, NotFound
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.records import Trace, TraceFeedback, TraceFeedbackDraft

PAGE = 1000  # traces listed per read
MAX_FEEDBACK = 10_000  # feedback one read returns at most (a server's cap)


def write(ctx: Exporting) -> None:
    store, project = ctx.store, ctx.project
    ids = [t.trace_id for t in _listed(ctx)]
    traces = (store.traces.get(trace_id, project) for trace_id in ids)
    ctx.counts.traces = bundle.write_lines(ctx.root / bundle.TRACES, _counted(ctx, traces))
    feedback = _feedback(ctx, ids)
    ctx.counts.trace_feedback = bundle.write_lines(ctx.root / bundle.TRACE_FEEDBACK, feedback)


def _listed(ctx: Exporting) -> Iterator[Trace]:
    offset = 0
    while page := ctx.store.traces.list(ctx.project, limit=PAGE, offset=offset):
        yield from page
        offset += len(page)


def _counted(ctx: Exporting, traces: Iterator[Trace]) -> Iterator[Trace]:
    for trace in traces:
        ctx.counts.spans += len(trace.spans)
        yield trace


def _feedback(ctx: Exporting, ids: list[str]) -> list[TraceFeedback]:
    found = ctx.store.traces.feedback(ctx.project, limit=MAX_FEEDBACK)
    if len(found) < MAX_FEEDBACK:
        return found
    by_id = {f.id: f for f in found}  # more than one read holds: trace by trace
    for trace_id in ids:
        by_id.update((f.id, f) for f in ctx.store.traces.feedback(ctx.project, [trace_id]))
    return sorted(by_id.values(), key=lambda f: (f.created_at, f.id))


def read(job: Importing) -> None:
    store = job.store
    for trace in bundle.read_lines(job.root / bundle.TRACES, Trace):
        spans = [msgspec.structs.replace(s, project=job.project) for s in trace.spans]
        try:
            store.traces.write(spans)
            there = store.traces.get(trace.trace_id, job.project)
        except AssayError as exc:
            job.problem(f"trace {trace.trace_id}: {exc}")
            continue
        have = {s.span_id: s for s in there.spans}
        differ = [s.span_id for s in spans if have.get(s.span_id) != s]
        if differ:
            job.problem(f"trace {trace.trace_id}: spans {', '.join(differ[:5])} differ")
        job.found.traces += 1
        job.found.spans += len(spans) - len(differ)
    for old in bundle.read_lines(job.root / bundle.TRACE_FEEDBACK, TraceFeedback):
        try:
            new = store.traces.add_feedback(_draft(job, old))
        except (AssayError, NotFound) as exc:
            job.problem(f"trace feedback {old.id}: {exc}")
            continue
        if _fields(new) != _fields(msgspec.structs.replace(old, project=job.project)):
            job.problem(f"trace feedback {old.id}: the target holds it otherwise")
            continue
        job.found.trace_feedback += 1


def _draft(job: Importing, old: TraceFeedback) -> TraceFeedbackDraft:
    return TraceFeedbackDraft(
        project=job.project,
        trace_id=old.trace_id,
        span_id=old.span_id,
        name=old.name,
        source=old.source,
        score=old.score,
        thumbs=old.thumbs,
        correction=old.correction,
        comment=old.comment,
        data=old.data,
        id=old.id,
    )


def _fields(f: TraceFeedback) -> tuple[object, ...]:
    """What feedback says (not when the target stored it, nor under which key)."""
    return (
        f.id,
        f.project,
        f.trace_id,
        f.span_id,
        f.name,
        f.source,
        f.score,
        f.thumbs,
        f.correction,
        f.comment,
        f.data,
    )
