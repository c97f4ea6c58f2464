"""``assay sync``: deliver what journals hold and the store does not.

A journal whose writer is gone (its lock is free) is delivered in full; if its run still
reads as running, the run is then marked crashed, and the journal is removed. A journal
whose writer still lives is delivered as far as it goes and left in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assay.records import Batch, UpdateRun
from assay.sdk import journal as jnl
from assay.store.base import Store


@dataclass
class SyncReport:
    journals: int = 0
    batches: int = 0
    duplicates: int = 0
    crashed: list[str] = field(default_factory=list)
    live: list[Path] = field(default_factory=list)


def sync(root: Path, store: Store, progress: Callable[[Path], None] | None = None) -> SyncReport:
    report = SyncReport()
    for path in jnl.journals_under(root):
        if progress is not None:
            progress(path)
        report.journals += 1
        _sync_one(path, store, report)
    return report


def _sync_one(path: Path, store: Store, report: SyncReport) -> None:
    live = jnl.is_locked(path)
    acked = jnl.read_acked(path)
    last: Batch | None = None
    for batch in jnl.read_journal(path, after=acked):
        if store.write_batch(batch):
            report.batches += 1
        else:
            report.duplicates += 1
        jnl.write_acked(path, batch.seq)
        last = batch
    if live:
        report.live.append(path)
        return
    run_id = last.run_id if last is not None else path.parent.name
    if _mark_crashed(store, run_id, path.stem):
        report.crashed.append(run_id)
    jnl.remove(path)


def _mark_crashed(store: Store, run_id: str, writer: str) -> bool:
    """A dead writer's run that never said it ended: it crashed."""
    try:
        run = store.run(run_id)
    except Exception:
        return False
    if run.status not in ("running", "crashed") or run.finished_at is not None:
        return False
    op = UpdateRun(max(run.heartbeat_at, run.created_at), status="crashed")
    # a writer id of its own, so a second sync of the same journal changes nothing
    return store.write_batch(Batch(run_id, f"x{writer}"[:32], 0, [op]))
