"""What the project's served models left: the request log of each registered model
(``requests/<model>.jsonl``, oldest first, with the labels joined to it) and every
change of their traffic policies (``traffic.jsonl``, oldest first).

Read back, entries go in idempotent batches under a writer id derived from the source
(an entry the target holds already stays as it is), labels are joined again, and each
policy change the target's history lacks is replayed in order, version arms mapped to
the target's version numbers; the log is then compared entry by entry."""

from __future__ import annotations

from typing import Any

import msgspec

from assay.errors import AssayError, NotFound
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.importers.runs import writer_for
from assay.records import LoggedRequest, RequestBatch, RequestEntry, TrafficPolicy

PER_BATCH = 1000  # request-log entries per batch


def write(ctx: Exporting) -> None:
    store = ctx.store
    for model in ctx.models:
        entries = store.requests.list(model)
        if entries:
            (ctx.root / bundle.REQUESTS).mkdir(exist_ok=True)
            path = ctx.root / bundle.REQUESTS / f"{model}.jsonl"
            ctx.counts.requests += bundle.write_lines(path, entries)
    changes = [p for model in ctx.models for p in store.models.traffic_history(model)[::-1]]
    ctx.counts.traffic_changes = bundle.write_lines(ctx.root / bundle.TRAFFIC, changes)


def read(job: Importing) -> None:
    folder = job.root / bundle.REQUESTS
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        model = path.name.removesuffix(".jsonl")
        entries = list(bundle.read_lines(path, LoggedRequest))
        try:
            _log(job, model, entries)
        except AssayError as exc:
            job.problem(f"request log of {model}: {exc}")
    by_model: dict[str, list[TrafficPolicy]] = {}
    for change in bundle.read_lines(job.root / bundle.TRAFFIC, TrafficPolicy):
        by_model.setdefault(change.model, []).append(change)
    for model, changes in by_model.items():
        try:
            _traffic(job, model, changes)
        except AssayError as exc:
            job.problem(f"traffic of {model}: {exc}")


def _log(job: Importing, model: str, entries: list[LoggedRequest]) -> None:
    store = job.store
    writer = writer_for(job.source, f"requests:{model}")
    for seq, start in enumerate(range(0, len(entries), PER_BATCH)):
        batch = [_entry(e) for e in entries[start : start + PER_BATCH]]
        store.requests.write_batch(RequestBatch(writer=writer, seq=seq, entries=batch))
    labelled = [e for e in entries if e.labelled_at is not None]
    for start in range(0, len(labelled), PER_BATCH):
        part = labelled[start : start + PER_BATCH]
        store.requests.label(model, [e.request_id for e in part], [e.label for e in part])
    there = {e.request_id: _fields(e) for e in store.requests.list(model)}
    differ = [e.request_id for e in entries if there.get(e.request_id) != _fields(e)]
    if differ:
        job.problem(f"request log of {model}: entries {', '.join(differ[:5])} differ")
    job.found.requests += len(entries) - len(differ)


def _entry(e: LoggedRequest) -> RequestEntry:
    return RequestEntry(
        model=e.model,
        request_id=e.request_id,
        time=e.time,
        version=e.version,
        arm=e.arm,
        status=e.status,
        latency_ms=e.latency_ms,
        inputs=e.inputs,
        outputs=e.outputs,
    )


def _fields(e: LoggedRequest) -> str:
    """An entry as one comparable string (not when its label was joined)."""
    return msgspec.json.encode(
        msgspec.structs.replace(e, labelled_at=None), order="sorted"
    ).decode()


def _traffic(job: Importing, model: str, changes: list[TrafficPolicy]) -> None:
    def key(p: TrafficPolicy) -> tuple[Any, ...]:
        return (sorted(p.split.items()), p.sticky, sorted(p.shadow.items()), p.reason)

    there = [key(p) for p in job.store.models.traffic_history(model)[::-1]]
    for old in changes:
        change = msgspec.structs.replace(
            old, split=_arms(job, model, old.split), shadow=_arms(job, model, old.shadow)
        )
        if key(change) in there:
            there.remove(key(change))
        else:
            job.store.models.set_traffic(
                model,
                change.split or None,
                sticky=change.sticky,
                shadow=change.shadow or None,
                reason=change.reason,
                actor=change.actor,
            )
        job.found.traffic_changes += 1


def _arms(job: Importing, model: str, weights: dict[str, float]) -> dict[str, float]:
    """Version arms (``"3"``) as the target numbers them; alias arms as they are."""
    mapped = {}
    for arm, weight in weights.items():
        if arm.isdigit():
            number = job.model_numbers.get((model, int(arm)))
            if number is None:
                raise NotFound(f"version {arm} of model {model} was not imported")
            arm = str(number)
        mapped[arm] = weight
    return mapped
