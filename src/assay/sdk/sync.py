"""``assay sync``: deliver what journals hold and the store does not.

Each journal goes to the store it was meant for, named in its ``<writer>.meta`` file
(a journal without one goes to the default store), unless a store is given for all of
them (``--to``). A journal whose writer is gone (its lock is free) is delivered in full;
if its run still reads as running, the run is then marked crashed, and the journal is
removed. A journal whose writer still lives is delivered as far as it goes and left in
place. A batch the store refuses goes to the dead-letter file beside the journal, and
delivery goes on; a store that cannot be reached or used leaves its journals in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assay.errors import AssayError
from assay.records import Batch, UpdateRun
from assay.redact import redact_text, redact_uri
from assay.sdk import backlog
from assay.sdk import journal as jnl
from assay.sdk.writer import apply, goes_alone
from assay.store.base import Store, open_store
from assay.store.facets.runs import ManyBatches


@dataclass
class SyncReport:
    journals: int = 0
    batches: int = 0
    duplicates: int = 0
    rejected: int = 0  # batches the store refused, kept in dead-letter files
    crashed: list[str] = field(default_factory=list)
    live: list[Path] = field(default_factory=list)
    delivered_to: dict[Path, str] = field(default_factory=dict)  # journal -> store (redacted)
    failed: dict[Path, str] = field(default_factory=dict)  # journal -> why it stays


class _Stores:
    """The stores journals are delivered to, each opened once (and closed at the end)."""

    def __init__(self, opener: Callable[[str], Store]) -> None:
        self._opener = opener
        self._open: dict[str, Store] = {}
        self._broken: dict[str, str] = {}

    def get(self, uri: str) -> Store:
        if uri in self._broken:
            raise _Unusable(self._broken[uri])
        if uri not in self._open:
            try:
                self._open[uri] = self._opener(uri)
            except Exception as exc:
                self._broken[uri] = _why(exc, uri)
                raise _Unusable(self._broken[uri]) from None
        return self._open[uri]

    def close(self) -> None:
        for store in self._open.values():
            store.close()


class _Unusable(Exception):
    pass


def sync(
    root: Path,
    store: Store | None = None,
    progress: Callable[[Path], None] | None = None,
    *,
    default_uri: str | None = None,
    opener: Callable[[str], Store] = open_store,
) -> SyncReport:
    """Deliver every journal under ``root``: all to ``store`` when one is given, else each
    to the store its meta file names (``default_uri`` for a journal without one)."""
    report = SyncReport()
    stores = _Stores(opener)
    try:
        for path in jnl.journals_under(root):
            if progress is not None:
                progress(path)
            report.journals += 1
            _deliver(path, store, default_uri, stores, report)
    finally:
        stores.close()
    return report


def _deliver(
    path: Path, store: Store | None, default_uri: str | None, stores: _Stores, report: SyncReport
) -> None:
    uri = store.uri if store is not None else jnl.read_meta(path).get("uri") or default_uri
    if uri is None:
        report.failed[path] = "its meta file names no store and no default store was given"
        return
    try:
        target = store if store is not None else stores.get(str(uri))
        _sync_one(path, target, report)
    except (_Unusable, AssayError, OSError) as exc:
        report.failed[path] = _why(exc, str(uri)) if not isinstance(exc, _Unusable) else str(exc)
        return
    report.delivered_to[path] = redact_uri(str(uri))


def _why(exc: BaseException, uri: str) -> str:
    return f"store {redact_uri(uri)}: {type(exc).__name__}: {redact_text(str(exc))}"


def _sync_one(path: Path, store: Store, report: SyncReport) -> None:
    live = jnl.is_locked(path)
    acked = jnl.read_acked(path)
    runs = store.runs
    many = runs if isinstance(runs, ManyBatches) else None
    last: Batch | None = None
    for group in backlog.requests(jnl.read_journal(path, after=acked), alone=goes_alone):
        applied = backlog.write_many(many, group) if many is not None and len(group) > 1 else None
        for new in applied if applied is not None else _one_by_one(path, store, group, report):
            report.batches += new
            report.duplicates += not new
        last = group[-1]
        jnl.write_acked(path, last.seq)
    if live:
        report.live.append(path)
        return
    run_id = last.run_id if last is not None else path.parent.name
    if _mark_crashed(store, run_id, path.stem):
        report.crashed.append(run_id)
    jnl.remove(path)


def _one_by_one(path: Path, store: Store, group: list[Batch], report: SyncReport) -> Iterator[bool]:
    """Deliver the batches one request each: whether each was new to the store. One
    the store refuses goes to the dead-letter file, counted as rejected."""
    for batch in group:
        try:
            yield apply(store, batch)
        except backlog.REFUSED:
            jnl.dead_letter(path, batch)
            report.rejected += 1


def _mark_crashed(store: Store, run_id: str, writer: str) -> bool:
    """A dead writer's run that never said it ended: it crashed."""
    try:
        run = store.runs.get(run_id)
    except Exception:
        return False
    if run.status not in ("running", "crashed") or run.finished_at is not None:
        return False
    op = UpdateRun(at=max(run.heartbeat_at, run.created_at), status="crashed")
    # a writer id of its own, so a second sync of the same journal changes nothing
    return store.runs.write_batch(Batch(run_id=run_id, writer=f"x{writer}"[:32], seq=0, ops=[op]))
