"""The background writer: buffer → batch → journal → store.

``add_points`` (called by ``Run.log``) only appends to a deque. A daemon thread wakes every
``interval`` seconds (or sooner when many steps wait), turns what waits into one Batch,
appends it to the journal (fsync'd), then delivers every batch the store has not
accepted yet, in order: several in one request when more than one waits (backlog.py),
each acknowledged only once the store has committed it. A store failure is logged once,
retried with backoff and jitter, and never reaches the training loop; the batches wait
in the journal (and, up to a limit, in memory).

Nothing is dropped silently. A batch the journal cannot take (a full disk) stays in
memory, is delivered from there and is appended again each cycle; only past
``MAX_UNWRITTEN_POINTS`` points waiting that way, with the store unreachable too, are
further points dropped, counted in ``dropped_points``, logged as an error and recorded
in the run's summary (``_assay/dropped_points``). An operation that cannot be encoded
(which the checks at the call should make impossible) costs only itself, the same way.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.media import codec
from assay.records import Batch, BlobData, Heartbeat, Media, Op, Points, Spans, UpdateRun
from assay.redact import redact_text
from assay.sdk import backlog
from assay.sdk import journal as jnl
from assay.sdk.backoff import Backoff
from assay.sdk.contact import OUTAGE, bounded
from assay.sdk.media import send_batch
from assay.store.base import Store
from assay.store.facets.runs import ManyBatches
from assay.traces.conventions import read

log = logging.getLogger("assay")

PointRow = tuple[int, float, dict[str, Any]]
# key, step, time, the value (not encoded yet), its size when logged
MediaRow = tuple[str, int, float, codec.Logged, int]
Source = Callable[[], Iterable[Op]]
Unwritten = tuple[Batch, bytes, int]  # a batch, its journal record, its size in points

BIG_ENDIAN = sys.byteorder == "big"
WAKE_STEPS = 20_000  # wake the writer early when this many steps wait
SPILL_STEPS = 200_000  # past this many waiting steps, log() journals them itself
MAX_PENDING_POINTS = 5_000_000  # journaled-but-undelivered points kept in memory at most
MAX_UNWRITTEN_POINTS = 5_000_000  # points the journal could not take, kept in memory at most
MAX_BATCH_POINTS = 500_000  # a batch stays well inside a server's request limits
# Rich values (images, tables...) wait unencoded, as the copies log() took, up to this many
# bytes; past it, log() encodes and journals what waits itself (the loop slows, memory
# stays bounded, nothing is dropped). The writer thread encodes them otherwise.
MAX_MEDIA_BYTES = 256 * 1024 * 1024
MEDIA_BATCH_BYTES = 8 * 1024 * 1024  # encoded blob bytes per batch, at most (about)
BYTES_PER_POINT = 24  # blob bytes weigh in the memory limits as points of this size
HEARTBEAT_EVERY = 15.0
MAX_BACKOFF = 30.0
DROPPED_KEY = "_assay/dropped_points"  # summary field: points this run could not keep
# A store's refusal of one batch that no retry can change: the batch is set aside.
REFUSED = backlog.REFUSED
# A batch that keeps failing with an error that is neither Assay's nor the OS's (a driver's
# data error: a store translates its outages to StoreUnavailable) is set aside too, after
# this many tries, so that it cannot block the batches after it.
MAX_UNEXPLAINED_FAILURES = 5
TRACER = "traces:"  # a tracer's batches name no run: their run_id is TRACER + the project


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
        self.heartbeat_every = HEARTBEAT_EVERY  # a tracer's writer has no run to keep alive
        self.points: deque[PointRow] = deque()
        self.media: deque[MediaRow] = deque()
        self._media_bytes = 0
        self.ops: deque[Op | threading.Event] = deque()
        self.sources: list[Source] = []
        self._seq = 0
        self._unwritten: deque[Unwritten] = deque()  # cut, not yet in the journal
        self._unwritten_points = 0
        self._pending: deque[Batch] = deque()  # journaled, not yet delivered
        self._pending_points = 0
        self._spilled = False
        self._acked = -1
        self._journal_failing = False
        self.dropped_points = 0  # points this writer could not keep (see the module doc)
        self._reported_drops = 0
        self._lock = threading.Lock()  # one batch at a time into the journal
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._backoff = Backoff(base=0.5)
        self._unexplained: dict[int, int] = {}  # seq -> tries failed with a foreign error
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

    def add_media(self, step: int, at: float, values: list[tuple[str, codec.Logged]]) -> None:
        """Keep rich values (copies, checked already) for the thread to encode."""
        for key, value in values:
            size = codec.size_of(value)
            self.media.append((key, step, at, value, size))
            self._media_bytes += size
        if self._media_bytes > MAX_MEDIA_BYTES:
            self._cut_batch()  # memory stays bounded: encode and journal here and now

    def add_op(self, op: Op) -> None:
        self.ops.append(op)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything added so far is journaled and a delivery was tried.

        True when the store has it all; False when some waits in the journal (or in
        memory, when the journal cannot take it) for later, or was lost.
        """
        if not self._thread.is_alive():
            self._cycle()
            return self.complete
        done = threading.Event()
        self.ops.append(done)
        self._wake.set()
        done.wait(timeout)
        return self.complete

    @property
    def delivered(self) -> bool:
        """The store has every batch this writer cut."""
        return self._acked == self._seq - 1

    @property
    def complete(self) -> bool:
        """Delivered, and nothing was dropped on the way."""
        return self.delivered and self.dropped_points == 0

    @property
    def journaled(self) -> bool:
        """Every batch cut so far is in the journal file (or already in the store)."""
        return not self._unwritten

    def close(self, timeout: float = 30.0) -> bool:
        """Stop the thread after a last batch; try delivery (and, after a failed append,
        the journal) until ``timeout``. True when the store has everything."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._cycle()
        deadline = time.monotonic() + timeout
        while self._waiting() and time.monotonic() < deadline:
            pause = self._backoff.wait() if self._connect else 0.1
            time.sleep(min(0.5, pause))
            with self._lock:
                self._write_journal()
            self._deliver(force=True)
        self._count_lost()
        self.journal.close()
        if self._store is not None:
            self._store.close()
        return self.delivered

    def deliver_first(self, timeout: float) -> None:
        """At init, before the thread starts: journal what waits (the run's creation) and
        deliver it in the caller's thread, within ``timeout``. A refusal (a bad key, no
        role, an invalid run) raises; an outage leaves it to the thread's retries."""
        self._cut_batch()
        store = self._store
        if store is None or self._connect is None:
            return
        for batch in self._plan()[1]:
            try:
                bounded(partial(send_batch, store, batch), timeout, "delivering the run")
            except OUTAGE as exc:
                self._failed(exc)
                return
            self._acked = batch.seq
        self._trim_pending()
        jnl.write_acked(self.journal.path, self._acked)

    def abandon(self) -> None:
        """Undo a writer whose run the store refused at init: nothing of it is kept."""
        self.journal.close()
        jnl.remove(self.journal.path)
        jnl.rejected_path(self.journal.path).unlink(missing_ok=True)
        if self._store is not None:
            self._store.close()
            self._store = None

    def _waiting(self) -> bool:
        online = self._connect is not None
        return (online and not self.delivered) or (not online and bool(self._unwritten))

    def _count_lost(self) -> None:
        """At close: what neither the journal nor the store took is gone; say how much."""
        with self._lock:
            lost = [u for u in self._unwritten if u[0].seq > self._acked]
        if lost:
            self.dropped_points += sum(size - 1 for _, _, size in lost)
            log.error(
                "assay: run %s: %d batch(es) (%d points) could be neither written to the "
                "journal %s nor delivered to the store, and are lost",
                self.run_id,
                len(lost),
                sum(size - 1 for _, _, size in lost),
                self.journal.path,
            )

    # ---- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:  # never let the thread die: what was cut waits in memory
                log.exception("assay: writer cycle failed; retrying")

    def _cycle(self) -> None:
        markers: list[threading.Event] = []
        try:
            markers = self._cut_batch()
            self._deliver()
        finally:
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
                if self.dropped_points != self._reported_drops:
                    self._reported_drops = self.dropped_points
                    ops.append(UpdateRun(at=now, summary={DROPPED_KEY: self.dropped_points}))
                if not ops and now - self._last_batch_at >= self.heartbeat_every:
                    ops.append(Heartbeat(at=now))
                if ops:
                    self._queue(
                        Batch(run_id=self.run_id, writer=self.writer_id, seq=self._seq, ops=ops)
                    )
                    self._last_batch_at = now
                if rows <= 0:
                    break
                ops = []
            self._write_journal()
            while self.media:  # each batch journaled before the next is encoded: memory
                self._queue(self._media_batch())  # holds one batch of blobs, not all
                self._write_journal()
            return markers

    def _media_batch(self) -> Batch:
        """Encode waiting rich values into one batch of about MEDIA_BATCH_BYTES of blobs.
        A value that fails to encode costs only itself (counted and named in an error)."""
        ops: list[Op] = []
        blobs: dict[str, bytes] = {}
        size = 0
        while self.media and size < MEDIA_BATCH_BYTES:
            key, step, at, value, logged_size = self.media.popleft()
            self._media_bytes -= logged_size
            try:
                op, data = codec.encode(key, step, at, value)
            except Exception as exc:
                self.dropped_points += 1
                log.error(
                    "assay: run %s: %r at step %d could not be encoded (%s) and is lost",
                    self.run_id,
                    key,
                    step,
                    exc,
                )
                continue
            ops.append(op)
            for digest, payload in data.items():
                if digest not in blobs:
                    blobs[digest] = payload
                    size += len(payload)
        if blobs:
            ops.append(BlobData(blobs=blobs))
        return Batch(run_id=self.run_id, writer=self.writer_id, seq=self._seq, ops=ops)

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

    # ---- into the journal ------------------------------------------------------------------

    def _queue(self, batch: Batch) -> None:
        """Give ``batch`` its sequence number and put it in line for the journal."""
        self._trim_unwritten()
        batch, record = self._encode(batch)
        size = _size(batch)
        if self._unwritten and self._unwritten_points + size > MAX_UNWRITTEN_POINTS:
            batch, record, size = self._drop_points(batch)
        self._unwritten.append((batch, record, size))
        self._unwritten_points += size
        self._seq += 1

    def _encode(self, batch: Batch) -> tuple[Batch, bytes]:
        """The batch and its journal record. An operation that cannot be encoded is left
        out, counted and named in an error; the rest of the batch is kept."""
        try:
            return batch, jnl.encode_record(batch)
        except Exception:
            kept = [op for op in batch.ops if self._encodable(op)]
            batch = Batch(run_id=batch.run_id, writer=batch.writer, seq=batch.seq, ops=kept)
            return batch, jnl.encode_record(batch)

    def _encodable(self, op: Op) -> bool:
        try:
            jnl.encode_record(Batch(run_id=self.run_id, writer=self.writer_id, seq=0, ops=[op]))
        except Exception as exc:
            self.dropped_points += _op_size(op)
            log.error(
                "assay: run %s: a %s operation could not be encoded (%s) and is lost",
                self.run_id,
                type(op).__name__,
                exc,
            )
            return False
        return True

    def _drop_points(self, batch: Batch) -> Unwritten:
        """Memory is full of batches the journal could not take: keep this batch's run
        updates, drop its points, and count them."""
        kept: list[Op] = [op for op in batch.ops if not isinstance(op, Points | Media | BlobData)]
        lost = _size(batch) - 1
        if self.dropped_points == 0:
            log.error(
                "assay: run %s: neither the journal %s nor the store takes data and %d "
                "points wait in memory; further points are dropped and counted in the "
                "run's summary (%s)",
                self.run_id,
                self.journal.path,
                self._unwritten_points,
                DROPPED_KEY,
            )
        self.dropped_points += lost
        stripped = Batch(run_id=batch.run_id, writer=batch.writer, seq=batch.seq, ops=kept)
        return stripped, jnl.encode_record(stripped), _size(stripped)

    def _trim_unwritten(self) -> None:
        """Forget batches the store took while the journal could not."""
        while self._unwritten and self._unwritten[0][0].seq <= self._acked:
            self._unwritten_points -= self._unwritten.popleft()[2]

    def _write_journal(self) -> None:
        """Append what waits for the journal, in order; on failure it waits for the next
        cycle (called with the lock held)."""
        self._trim_unwritten()
        while self._unwritten:
            batch, record, size = self._unwritten[0]
            try:
                self.journal.append_record(record)
            except OSError as exc:
                self._journal_failed(exc)
                return
            self._unwritten.popleft()
            self._unwritten_points -= size
            self._journaled(batch, size)
            self._trim_unwritten()
        if self._journal_failing:
            self._journal_failing = False
            log.warning("assay: the journal %s takes data again", self.journal.path)

    def _journal_failed(self, exc: OSError) -> None:
        if not self._journal_failing:
            self._journal_failing = True
            log.error(
                "assay: cannot write the journal %s (%s); the data waits in memory (up to "
                "%d points), is delivered from there, and the journal is retried",
                self.journal.path,
                exc,
                MAX_UNWRITTEN_POINTS,
            )

    def _journaled(self, batch: Batch, size: int) -> None:
        if self._connect is None or batch.seq <= self._acked:
            return
        if self._spilled or self._pending_points + size > MAX_PENDING_POINTS:
            self._pending.clear()
            self._pending_points = 0
            self._spilled = True  # deliver from the journal file instead
            return
        self._pending.append(batch)
        self._pending_points += size

    # ---- to the store ----------------------------------------------------------------------

    def _deliver(self, force: bool = False) -> None:
        if self._connect is None or self.delivered:
            return
        if not force and not self._backoff.due():
            return
        try:
            store = self._store or self._connect()
            self._store = store
            cut, memory = self._plan()
            if cut is not None:
                self._deliver_file(store, cut)
            self._send(store, memory)
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            self._trim_pending()
        if self._backoff.succeeded():
            log.warning("assay: the store is reachable again; delivery resumed")
        jnl.write_acked(self.journal.path, self._acked)

    def _send(self, store: Store, batches: Iterable[Batch]) -> None:
        """Deliver ``batches`` in order, acknowledging each once the store has it: several
        per request where the store takes them so (backlog.py), else one at a time."""
        runs = store.runs
        many = runs if isinstance(runs, ManyBatches) else None
        for group in backlog.requests(batches, alone=goes_alone):
            if many is not None and len(group) > 1 and backlog.write_many(many, group) is not None:
                self._acked = group[-1].seq
                continue
            for batch in group:
                self._write(store, batch)
                self._acked = batch.seq

    def _write(self, store: Store, batch: Batch) -> None:
        """Deliver one batch. One the store refuses (invalid, contradicting what it holds,
        naming what it lacks) can never succeed: it goes to a dead-letter file beside the
        journal, with an error naming it, and delivery moves on. Everything else
        (unreachable, unauthorised, forbidden) is retried."""
        try:
            apply(store, batch)
        except REFUSED as exc:
            self._set_aside(batch, exc)
        except (AssayError, OSError):
            raise
        except Exception as exc:
            failures = self._unexplained.get(batch.seq, 0) + 1
            self._unexplained = {batch.seq: failures}
            if failures < MAX_UNEXPLAINED_FAILURES:
                raise
            self._set_aside(batch, exc)

    def _set_aside(self, batch: Batch, exc: Exception) -> None:
        try:
            rejected: Path | str = jnl.dead_letter(self.journal.path, batch)
        except OSError as error:
            self.dropped_points += _size(batch) - 1
            rejected = f"nowhere: the dead-letter file cannot be written ({error}), so it is lost"
        log.error(
            "assay: the store refused batch %d of run %s (%s); it is kept in %s",
            batch.seq,
            self.run_id,
            redact_text(str(exc)),
            rejected,
        )

    def _plan(self) -> tuple[int | None, list[Batch]]:
        """What the store lacks: the journal file's batches below a cut (when memory
        spilled, else None), then, in order, the journaled batches kept in memory and
        the ones the journal could not take yet."""
        with self._lock:
            cut = None
            if self._spilled:
                self._spilled = False  # from here on, journaled batches stay in memory
                cut = self._unwritten[0][0].seq if self._unwritten else self._seq
            acked = self._acked
            memory = [b for b in self._pending if b.seq > acked]
            memory += [u[0] for u in self._unwritten if u[0].seq > acked]
        return cut, memory

    def _deliver_file(self, store: Store, cut: int) -> None:
        try:
            below = jnl.read_journal(self.journal.path, self._acked)
            self._send(store, itertools.takewhile(lambda batch: batch.seq < cut, below))
        except BaseException:
            with self._lock:  # read the file again next time
                self._spilled = True
                self._pending.clear()
                self._pending_points = 0
            raise

    def _trim_pending(self) -> None:
        with self._lock:
            while self._pending and self._pending[0].seq <= self._acked:
                self._pending_points -= _size(self._pending.popleft())

    def _failed(self, exc: Exception) -> None:
        if self._backoff.failed(cap=MAX_BACKOFF):
            log.warning(
                "assay: cannot deliver to the store (%s); training goes on, the data waits "
                "in the journal %s and delivery is retried",
                redact_text(str(exc)) or type(exc).__name__,
                self.journal.path,
            )
        if self._store is not None:
            try:
                self._store.close()
            finally:
                self._store = None


def apply(store: Store, batch: Batch) -> bool:
    """Deliver one journaled batch: a run's to ``store.runs`` (the blobs of its rich
    values first, sdk/media.py); a tracer's (its run_id
    starts with TRACER) as spans to ``store.traces``, their tokens and cost read from
    their attributes here, off the application's thread. True when the store had not
    got it yet (spans: some were new)."""
    if batch.run_id.startswith(TRACER):
        spans = [read(span) for op in batch.ops if isinstance(op, Spans) for span in op.spans]
        return bool(spans) and store.traces.write(spans) > 0
    return send_batch(store, batch)


def goes_alone(batch: Batch) -> bool:
    """A batch that goes in a request of its own: a tracer's (spans, to ``store.traces``)
    or one carrying blobs (sent first, on their own: sdk/media.py)."""
    return batch.run_id.startswith(TRACER) or any(isinstance(op, BlobData) for op in batch.ops)


def _size(batch: Batch) -> int:
    """Points in a batch (plus one, so a batch of other ops counts too); blob bytes weigh
    as points of BYTES_PER_POINT bytes, so the memory limits bound them too."""
    return sum(_weight(op) for op in batch.ops) + 1


def _weight(op: Op) -> int:
    if isinstance(op, Points):
        return op.count
    if isinstance(op, BlobData):
        return sum(len(b) for b in op.blobs.values()) // BYTES_PER_POINT
    return 1 if isinstance(op, Media) else 0


def _op_size(op: Op) -> int:
    """What losing one operation costs: its points, or one for any other operation."""
    return op.count if isinstance(op, Points) else 1


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
    return [
        Points(key=k, steps=_little(s), times=_little(t), values=_little(v))
        for k, (s, t, v) in cols.items()
    ]


def _little(column: array[Any]) -> bytes:
    """A column's bytes in the series codec's order (little-endian; see records.Columns)."""
    if BIG_ENDIAN:
        column.byteswap()
    return column.tobytes()


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
