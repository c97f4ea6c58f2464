"""What the project's served models left: the request log of each registered model
(``requests/<model>.jsonl``, one request a line, oldest first, with the labels joined to
it; lines of earlier exports, one row each, are read too) and every change of their
traffic policies (``traffic.jsonl``, oldest first).

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
from assay.records import (
    LoggedRequest,
    RequestBatch,
    RequestEntry,
    RequestLabel,
    TrafficPolicy,
)

PER_BATCH = 1000  # request-log entries (or labels) per batch


class Exported(msgspec.Struct, kw_only=True, frozen=True):
    """A line of ``requests/<model>.jsonl``: a request as this version exports it (its
    ``rows``, columns and ``labels``), or one row as earlier versions did (``{name:
    value}``, ``label``)."""

    model: str
    request_id: str
    time: float
    version: str
    arm: str | None = None
    status: int = 200
    latency_ms: float = 0.0
    rows: int | None = None
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    labels: list[RequestLabel] = []
    label: Any = None
    labelled_at: float | None = None

    def request(self) -> LoggedRequest:
        """The request the store holds once this line is imported."""
        rows, inputs, outputs, labels = self.rows, self.inputs, self.outputs, self.labels
        if rows is None:
            rows = 1 if inputs or outputs else 0
            inputs = {name: [value] for name, value in inputs.items()}
            outputs = {name: [value] for name, value in outputs.items()}
            at = self.labelled_at
            labels = [] if at is None else [RequestLabel(row=-1, label=self.label, at=at)]
        return LoggedRequest(
            model=self.model,
            request_id=self.request_id,
            time=self.time,
            version=self.version,
            arm=self.arm,
            status=self.status,
            latency_ms=self.latency_ms,
            rows=rows,
            inputs=inputs,
            outputs=outputs,
            labels=labels,
        )


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
        entries = [line.request() for line in bundle.read_lines(path, Exported)]
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
    joined = [
        (e.request_id if lab.row < 0 else f"{e.request_id}/{lab.row}", lab.label)
        for e in entries
        for lab in e.labels
    ]
    for start in range(0, len(joined), PER_BATCH):
        ids, labels = zip(*joined[start : start + PER_BATCH], strict=True)
        store.requests.label(model, list(ids), list(labels))
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
        rows=e.rows,
        inputs=e.inputs,
        outputs=e.outputs,
    )


def _fields(e: LoggedRequest) -> str:
    """A request as one comparable string (not when its labels were joined)."""
    labels = [(lab.row, lab.label) for lab in e.labels]
    return msgspec.json.encode(
        [msgspec.structs.replace(e, labels=[]), labels], order="sorted"
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
