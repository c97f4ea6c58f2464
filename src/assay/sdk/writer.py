"""The background writer: buffer → batch → journal → store.

``add_points`` (called by ``Run.log``) only appends to a deque. A daemon thread wakes every
``interval`` seconds (or sooner when many steps wait), turns what waits into one Batch,
appends it to the journal (fsync'd), then delivers every journaled batch the store has not
accepted yet. A store failure is logged once, retried with backoff and jitter, and never
reaches the training loop; the batches wait in the journal (and, up to a limit, in memory).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.records import Batch, Heartbeat, Op, Points
from assay.sdk import journal as jnl
from assay.store.base import Store

log = logging.getLogger("assay")

PointRow = tuple[int, float, dict[str, Any]]
Source = Callable[[], Iterable[Op]]

WAKE_STEPS = 20_000  # wake the writer early when this many steps wait
SPILL_STEPS = 200_000  # past this many waiting steps, log() journals them itself
MAX_PENDING_POINTS = 5_000_000  # journaled-but-undelivered points kept in memory at most
MAX_BATCH_POINTS = 500_000  # a batch stays well inside a server's request limits
HEARTBEAT_EVERY = 15.0
MAX_BACKOFF = 30.0


class Writer:
    def __init__(
        self,
        run_id: str,
        writer_id: str,
        journal: jnl.JournalWriter,
        connect: Callable[[], Store] | None,
        interval: float = 0.1,
    ) -> None:
        self.run_id = run_id
        self.writer_id = writer_id
        self.journal = journal
        self._connect = connect  # None: offline, journal only
        self._store: Store | None = None
        self.interval = interval
        self.points: deque[PointRow] = deque()
        self.ops: deque[Op | threading.Event] = deque()
        self.sources: list[Source] = []
        self._seq = 0
        self._pending: deque[Batch] = deque()
        self._pending_points = 0
        self._spilled = False
        self._acked = -1
        self._lock = threading.Lock()  # one batch at a time into the journal
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._retry_at = 0.0
        self._failures = 0
        self._last_batch_at = time.time()
        self._thread = threading.Thread(
            target=self._loop, name=f"assay-writer-{run_id}", daemon=True
        )

    # ---- called from the training process ------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def add_points(self, row: PointRow) -> None:
        self.points.append(row)
        waiting = len(self.points)
        if waiting >= WAKE_STEPS and waiting % WAKE_STEPS == 0:
            self._wake.set()
        if waiting >= SPILL_STEPS:
            self._cut_batch()  # memory stays bounded: spill to the journal here and now

    def add_op(self, op: Op) -> None:
        self.ops.append(op)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything added so far is journaled and a delivery was tried.

        True when the store has it all; False when it waits in the journal for later.
        """
        if not self._thread.is_alive():
            self._cycle()
            return self.delivered
        done = threading.Event()
        self.ops.append(done)
        self._wake.set()
        done.wait(timeout)
        return self.delivered

    @property
    def delivered(self) -> bool:
        return self._acked == self._seq - 1

    def close(self, timeout: float = 30.0) -> bool:
        """Stop the thread after a last batch; try delivery until ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._cycle()
        deadline = time.monotonic() + timeout
        while not self.delivered and self._connect is not None and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, self._retry_at - time.time())))
            self._deliver(force=True)
        self.journal.close()
        if self._store is not None:
            self._store.close()
        return self.delivered

    # ---- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:  # never let the thread die: the journal keeps what we have
                log.exception("assay: writer cycle failed; retrying")

    def _cycle(self) -> None:
        markers = self._cut_batch()
        self._deliver()
        for marker in markers:
            marker.set()

    def _cut_batch(self) -> list[threading.Event]:
        """Journal what waits now, in batches of at most MAX_BATCH_POINTS points."""
        with self._lock:
            ops, markers = self._drain_ops()  # ops first: see flush()
            rows = len(self.points)  # only rows present now: a busy producer cannot trap us
            for source in self.sources:
                ops.extend(source())
            while True:
                taken, points = self._drain_points(rows)
                rows -= taken
                ops.extend(points)
                now = time.time()
                if not ops and now - self._last_batch_at >= HEARTBEAT_EVERY:
                    ops.append(Heartbeat(now))
                if ops:
                    self._journal_batch(Batch(self.run_id, self.writer_id, self._seq, ops))
                    self._last_batch_at = now
                if rows <= 0:
                    return markers
                ops = []

    def _drain_ops(self) -> tuple[list[Op], list[threading.Event]]:
        ops: list[Op] = []
        markers: list[threading.Event] = []
        while self.ops:
            item = self.ops.popleft()
            if isinstance(item, threading.Event):
                markers.append(item)
            else:
                ops.append(item)
        return ops, markers

    def _drain_points(self, limit: int) -> tuple[int, list[Op]]:
        """Up to ``limit`` rows, stopping once MAX_BATCH_POINTS points are taken."""
        rows: list[PointRow] = []
        points = self.points
        count = 0
        while len(rows) < limit and count < MAX_BATCH_POINTS:
            row = points.popleft()
            rows.append(row)
            count += len(row[2])
        return len(rows), (columnar(rows) if rows else [])

    def _journal_batch(self, batch: Batch) -> None:
        self.journal.append(batch)
        self._seq += 1
        if self._connect is None:
            return
        size = _size(batch)
        if self._spilled or self._pending_points + size > MAX_PENDING_POINTS:
            self._pending.clear()
            self._pending_points = 0
            self._spilled = True  # deliver from the journal file instead
            return
        self._pending.append(batch)
        self._pending_points += size

    def _deliver(self, force: bool = False) -> None:
        if self._connect is None or self.delivered:
            return
        if not force and time.time() < self._retry_at:
            return
        try:
            store = self._store or self._connect()
            self._store = store
            for batch in self._undelivered():
                self._write(store, batch)
                self._acked = batch.seq
        except Exception as exc:
            self._failed(exc)
            return
        if self._failures:
            log.warning("assay: the store is reachable again; delivery resumed")
        self._failures = 0
        jnl.write_acked(self.journal.path, self._acked)

    def _write(self, store: Store, batch: Batch) -> None:
        """Deliver one batch. One the store refuses as invalid can never succeed: it goes
        to a dead-letter file beside the journal, with an error naming it, and delivery
        moves on. Everything else (unreachable, forbidden) is retried."""
        try:
            store.write_batch(batch)
        except InvalidInput as exc:
            rejected = jnl.dead_letter(self.journal.path, batch)
            log.error(
                "assay: the store refused batch %d of run %s (%s); it is kept in %s",
                batch.seq,
                self.run_id,
                exc,
                rejected,
            )

    def _undelivered(self) -> Iterable[Batch]:
        if self._spilled:
            with self._lock:
                self.journal.sync()
                cut = self._seq
            yield from (b for b in jnl.read_journal(self.journal.path, self._acked) if b.seq < cut)
            self._spilled = False
        while self._pending:
            batch = self._pending[0]
            if batch.seq > self._acked:
                yield batch
            self._pending.popleft()
            self._pending_points -= _size(batch)

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(MAX_BACKOFF, 0.5 * 2 ** min(self._failures, 8)) * random.uniform(0.5, 1.0)
        self._retry_at = time.time() + delay
        if self._failures == 1:
            log.warning(
                "assay: cannot deliver to the store (%s); training goes on, the data waits "
                "in the journal %s and delivery is retried",
                exc,
                self.journal.path,
            )
        if self._store is not None:
            try:
                self._store.close()
            finally:
                self._store = None


def _size(batch: Batch) -> int:
    """Points in a batch (plus one, so a batch of other ops counts too)."""
    return sum(len(op.values) // 8 for op in batch.ops if isinstance(op, Points)) + 1


def columnar(rows: list[PointRow]) -> list[Op]:
    """Turn (step, time, {key: value}) rows into one Points op per key.

    Rows with the same keys are transposed together, so most work happens in C.
    """
    groups: dict[tuple[str, ...], list[PointRow]] = {}
    for row in rows:
        groups.setdefault(tuple(row[2]), []).append(row)
    cols: dict[str, tuple[array[int], array[float], array[float]]] = {}
    for keys, group in groups.items():
        steps = array("q", [r[0] for r in group])
        times = array("d", [r[1] for r in group])
        values = zip(*[r[2].values() for r in group], strict=True)
        for key, column in zip(keys, values, strict=True):
            target = cols.get(key)
            if target is None:
                cols[key] = (array("q", steps), array("d", times), _floats(column))
            else:
                target[0].extend(steps)
                target[1].extend(times)
                target[2].extend(_floats(column))
    return [Points(k, s.tobytes(), t.tobytes(), v.tobytes()) for k, (s, t, v) in cols.items()]


def _floats(column: tuple[Any, ...]) -> array[float]:
    try:
        return array("d", column)
    except (OverflowError, TypeError):
        return array("d", [_to_float(v) for v in column])


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def journal_path(root: Path, run_id: str, writer_id: str) -> Path:
    return root / run_id / f"{writer_id}{jnl.SUFFIX}"
