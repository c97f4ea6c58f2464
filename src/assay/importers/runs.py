"""Writing one run as a source holds it: its own id, times, status and every point.

Each source run gets a writer id derived from where it came from, and its batches are
cut the same way on every attempt, so the store's (run, writer, seq) claim makes a second
import of the same run change nothing and an interrupted one finish where it stopped. A
run that fits in one batch (most do) appears in one transaction: with all its points or
not at all. Rich values (images, histograms, text) are encoded as ``run.log`` encodes them
(media/codec.py) and their blobs stored before the batch that names them, as the SDK
delivers them (sdk/media.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from assay import digests
from assay.errors import Conflict, ImportIncomplete, NotFound
from assay.media import codec
from assay.media.codec import Logged
from assay.records import (
    Batch,
    BlobData,
    Columns,
    CreateRun,
    Heartbeat,
    LogLine,
    LogLines,
    Media,
    MediaRecord,
    Op,
    Points,
    Run,
    UpdateRun,
)
from assay.sdk.media import send_batch
from assay.store.base import Store
from assay.store.facets.media import MAX_MEDIA_PAGE

BATCH_BYTES = 16 << 20  # a bigger run is cut into several batches (servers cap bodies)
POINTS_PER_OP = 1 << 20  # points of one key per operation
LINES_PER_OP = 10_000


@dataclass(frozen=True)
class MediaPoint:
    """A rich value at a step. ``make`` builds it when its batch is written, so a run's
    images are held as their encoded bytes until then, not as pixels."""

    key: str
    step: int
    at: float
    kind: str
    make: Callable[[], Logged]


@dataclass(frozen=True)
class StoredMedia:
    """A rich value as a store held it (an export read back): the operation, and
    ``load`` giving the blobs it names when its batch is written."""

    op: Media
    load: Callable[[], dict[str, bytes]]


@dataclass(kw_only=True)
class RunData:
    """Everything of one run an importer read from its source."""

    id: str
    project: str
    name: str
    created_at: float
    status: str = "finished"
    finished_at: float | None = None
    heartbeat_at: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None
    host: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None
    series: dict[str, Columns] = field(default_factory=dict)
    log_lines: list[LogLine] = field(default_factory=list)
    media: list[MediaPoint] = field(default_factory=list)
    stored: list[StoredMedia] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(len(c) for c in self.series.values())


def writer_for(source: str, run_id: str) -> str:
    """The same 32-character writer id for the same source run, every time."""
    return "imp-" + digests.of_bytes(f"{source}\0{run_id}".encode())[:28]


def write_run(store: Store, data: RunData, source: str) -> bool:
    """Write the run; False if every batch of it was already there (imported before).

    A run of that id that another writer made is refused (Conflict), unless it is this
    very run (same project, name and start), imported before: then only what is missing
    is written."""
    _check_not_foreign(store, data)
    writer = writer_for(source, data.id)
    applied = False
    for seq, ops in enumerate(_cut(_ops(data))):
        batch = Batch(run_id=data.id, writer=writer, seq=seq, ops=ops)
        applied = send_batch(store, batch) or applied
    return applied


def _check_not_foreign(store: Store, data: RunData) -> None:
    try:
        there = store.runs.get(data.id)
    except NotFound:
        return
    if (there.project, there.name, there.created_at) != (
        data.project,
        data.name,
        data.created_at,
    ):
        raise Conflict(
            f"run {data.id} already exists in the target as {there.project}/{there.name}, "
            "a different run: it is not overwritten"
        )


def _ops(data: RunData) -> Iterator[Op]:
    yield CreateRun(
        project=data.project,
        name=data.name,
        created_at=data.created_at,
        config=data.config,
        tags=data.tags,
        notes=data.notes,
        group=data.group,
        job_type=data.job_type,
        host=data.host,
    )
    for key, columns in data.series.items():
        yield from _points(key, columns)
    for item in data.media:
        op, blobs = codec.encode(item.key, item.step, item.at, item.make())
        yield op
        if blobs:
            yield BlobData(blobs=blobs)
    for value in data.stored:
        yield value.op
        if value.op.blobs:
            yield BlobData(blobs=value.load())
    for start in range(0, len(data.log_lines), LINES_PER_OP):
        lines = data.log_lines[start : start + LINES_PER_OP]
        yield LogLines(lines=[(line.at, line.stream, line.text) for line in lines])
    if data.heartbeat_at is not None:
        yield Heartbeat(at=data.heartbeat_at)
    final = data.status != "running"
    yield UpdateRun(
        at=data.finished_at or data.heartbeat_at or data.created_at,
        summary=data.summary or None,
        status=data.status if final else None,
        traceback=data.traceback,
    )


def _points(key: str, columns: Columns) -> Iterator[Points]:
    steps, times, values = columns.to_bytes()
    width = 8  # bytes per step, time and value
    for start in range(0, len(columns), POINTS_PER_OP):
        a, b = start * width, min(len(columns), start + POINTS_PER_OP) * width
        yield Points(key=key, steps=steps[a:b], times=times[a:b], values=values[a:b])


def _cut(ops: Iterable[Op]) -> Iterator[list[Op]]:
    """Consecutive groups of about BATCH_BYTES (deterministic: the same ops, the same cut);
    a value's blobs stay in the batch of the value that names them."""
    group: list[Op] = []
    size = 0
    for op in ops:
        weight = _weight(op)
        if group and size + weight > BATCH_BYTES and not isinstance(op, BlobData):
            yield group
            group, size = [], 0
        group.append(op)
        size += weight
    if group:
        yield group


def _weight(op: Op) -> int:
    if isinstance(op, Points):
        return len(op.steps) * 3
    if isinstance(op, LogLines):
        return sum(len(text) + 16 for _, _, text in op.lines)
    if isinstance(op, Media):
        return 1024 + len(msgspec.json.encode(op.body))
    if isinstance(op, BlobData):
        return sum(len(data) for data in op.blobs.values())
    return 1024


def from_record(run: Run, series: dict[str, Columns], lines: list[LogLine]) -> RunData:
    """An Assay run record as RunData (for exports read back)."""
    return RunData(
        id=run.id,
        project=run.project,
        name=run.name,
        created_at=run.created_at,
        status=run.status,
        finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at,
        config=run.config,
        summary=run.summary,
        tags=list(run.tags),
        notes=run.notes,
        group=run.group,
        job_type=run.job_type,
        host=run.host,
        traceback=run.traceback,
        series=series,
        log_lines=lines,
    )


def write_checked(store: Store, data: RunData, source: str) -> None:
    """Write the run (write_run) and read it back: ImportIncomplete names the keys whose
    points or values the store does not hold as they were read."""
    write_run(store, data, source)
    differ = same_series(data.series, store.runs.history(data.id))
    if differ:
        raise ImportIncomplete(f"the points of {', '.join(differ[:5])} differ after the import")
    differ = missing_media(store, data.id, data.media)
    if differ:
        raise ImportIncomplete(f"the values of {', '.join(differ[:5])} differ after the import")


def same_series(a: dict[str, Columns], b: dict[str, Columns]) -> list[str]:
    """The keys whose points differ (steps, times or values; NaN equals NaN)."""
    return [key for key in sorted(set(a) | set(b)) if not _same(a.get(key), b.get(key))]


def _same(x: Columns | None, y: Columns | None) -> bool:
    return (
        x is not None
        and y is not None
        and np.array_equal(x.steps, y.steps)
        and np.array_equal(x.times, y.times)
        and np.array_equal(x.values, y.values, equal_nan=True)
    )


def missing_media(store: Store, run_id: str, media: list[MediaPoint]) -> list[str]:
    """The keys whose values (their steps and kinds) the store does not hold as read."""
    wanted: dict[str, set[tuple[int, str]]] = {}
    for item in media:
        wanted.setdefault(item.key, set()).add((item.step, item.kind))
    differ = []
    for key, expected in sorted(wanted.items()):
        stored = {(r.step, r.kind) for r in media_records(store, run_id, key)}
        if stored != expected:
            differ.append(key)
    return differ


def media_records(store: Store, run_id: str, key: str) -> list[MediaRecord]:
    """Every value the run logged under ``key``, by step (page after page)."""
    records: list[MediaRecord] = []
    start: int | None = None
    while True:
        page = store.media.list(run_id, key, start=start, limit=MAX_MEDIA_PAGE)
        records += page
        if len(page) < MAX_MEDIA_PAGE:
            return records
        start = page[-1].step + 1
