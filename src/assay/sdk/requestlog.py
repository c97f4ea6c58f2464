"""The request-log writer: queue → batch → journal → store, off the request path.

``submit`` (called by ``assay serve`` for every answered request, and by
``assay.monitoring.log``) only appends a builder to a deque: no encoding, no I/O. A daemon
thread wakes every ``interval`` seconds, builds the entries, cuts them into
``RequestBatch``es of at most ``MAX_BATCH_ENTRIES`` and delivers every batch the store has
not accepted, in order. A batch the store did not take in that cycle is appended to the
journal (the run journal's format, one fsync per cycle); one it took at once never is: a
healthy store costs no journal writes (docs/architecture.md, "The request log's
journal": what a crash can lose, and why that is the same as before). A store outage is
logged once and retried with backoff; the entries wait in the journal (and, up to
``MAX_PENDING_ENTRIES``, in memory; past that they are read back from the journal file).

The limit: at most ``max_queued`` entries (default ``MAX_QUEUED_ENTRIES``) holding at most
``MAX_QUEUED_BYTES`` of arrays wait for the thread (an empty queue takes any one request).
Past it, ``submit`` drops the new entries, counts them in ``dropped`` (and the
``on_drop`` callback: the server's Prometheus counter) and logs an error once per burst.
Nothing else is dropped: ``close`` delivers what waits, journals what the store did not
take and tries delivery until its timeout; what is still undelivered stays in the
journal, and the next request log opened on the same folder (the next ``assay serve``)
delivers it first.

Journals are ``<journal root>/requests/<writer>.rlog`` (``.acked``, ``.rejected`` and
``.meta`` beside them, as for runs); ``assay sync`` leaves them alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_writer_id
from assay.records import RequestBatch, RequestEntry
from assay.redact import redact_text
from assay.sdk import journal as jnl
from assay.sdk.backoff import Backoff
from assay.store.base import Store, journal_root, open_store

log = logging.getLogger("assay")

Builder = Callable[[], list[RequestEntry]]
SUFFIX = ".rlog"
MAX_QUEUED_ENTRIES = 100_000  # waiting for the writer thread; past it, new entries are dropped
MAX_QUEUED_BYTES = 256 << 20  # the same for the arrays they hold (as the submitter counts them)
MAX_PENDING_ENTRIES = 200_000  # journaled, undelivered, kept in memory (then read from the file)
MAX_BATCH_ENTRIES = 2_000  # entries in one batch
MAX_BATCH_BYTES = 8 << 20  # one batch's record: well inside a server's request limit
BATCH_ARRAY_BYTES = 4 << 20  # a batch is cut at this many bytes of its entries' arrays
MAX_BACKOFF = 30.0
REFUSED = (InvalidInput, Conflict, NotFound)  # a batch no retry can change: set aside


def folder_for(uri: str) -> Path:
    """Where request logs writing to ``uri`` keep their journals."""
    return journal_root(uri) / "requests"


class RequestLog:
    """One writer of request-log entries into the store at ``uri``."""

    def __init__(
        self,
        uri: str,
        *,
        folder: Path | None = None,
        interval: float = 0.2,
        max_queued: int | None = None,
        on_drop: Callable[[int], None] | None = None,
        connect: Callable[[], Store] | None = None,
    ) -> None:
        self.uri = uri
        self.folder = folder if folder is not None else folder_for(uri)
        self.writer_id = new_writer_id()
        self.journal = jnl.JournalWriter(self.folder / f"{self.writer_id}{SUFFIX}")
        jnl.write_meta(self.journal.path, uri, run_id="", project="")
        self.interval = interval
        self.max_queued = max_queued if max_queued is not None else MAX_QUEUED_ENTRIES
        self.dropped = 0  # entries past the limit, never stored
        self._on_drop = on_drop
        self._connect = connect or (lambda: open_store(uri))
        self._store: Store | None = None
        self._queue: deque[tuple[int, int, Builder]] = deque()
        self._queued = 0
        self._queued_bytes = 0
        self._count_lock = threading.Lock()
        self._lock = threading.Lock()  # one cycle at a time
        self._seq = 0
        self._acked = -1
        self._fresh: deque[RequestBatch] = deque()  # cut this cycle: delivered, or journaled
        self._pending: deque[RequestBatch] = deque()  # journaled (or not), undelivered
        self._journal_top = -1  # the last seq appended to the journal
        self._acked_mark = -1  # the acked mark last written beside the journal
        self._sizes = jnl.RecordEncoder()  # a batch's record size, in one buffer
        self._pending_entries = 0
        self._spilled = -1  # batches up to this seq are read back from the journal file
        self._journal_failing = False
        self._unjournaled = 0  # batches in memory the journal could not take
        self._backoff = Backoff(base=0.25)
        self._burst = False  # dropping now (logged once per burst)
        self._orphans = [
            p for p in sorted(self.folder.glob(f"*{SUFFIX}")) if p != self.journal.path
        ]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="assay-requestlog", daemon=True)

    # ---- called on the request path ------------------------------------------------------

    def start(self) -> RequestLog:
        self._thread.start()
        return self

    def submit(self, entries: int, build: Builder, *, nbytes: int = 0, block: bool = False) -> bool:
        """Queue ``entries`` entries that ``build()`` makes later (in the writer thread),
        holding ``nbytes`` bytes of data until then. When the queue is full (``max_queued``
        entries or MAX_QUEUED_BYTES; an empty queue takes anything): False, the entries
        dropped and counted; or, with ``block`` (batch inference, never a server's
        request path), wait for room."""
        while True:
            with self._count_lock:
                room = not self._queue or (
                    self._queued + entries <= self.max_queued
                    and self._queued_bytes + nbytes <= MAX_QUEUED_BYTES
                )
                if room or not block:
                    return self._queued_or_dropped(entries, nbytes, build, room)
            if self._thread.is_alive():
                self._wake.set()
                time.sleep(0.01)
            else:
                self._cycle(force=True)

    def _queued_or_dropped(self, entries: int, nbytes: int, build: Builder, room: bool) -> bool:
        if room:
            self._queued += entries
            self._queued_bytes += nbytes
            self._queue.append((entries, nbytes, build))
            self._burst = False
            return True
        self.dropped += entries
        burst, self._burst = self._burst, True
        if not burst:
            log.error(
                "assay: the request log's queue is full (%d entries, %d bytes waiting for its "
                "writer; the limits are %d and %d); new entries are dropped and counted (%d so "
                "far) until it catches up",
                self._queued,
                self._queued_bytes,
                self.max_queued,
                MAX_QUEUED_BYTES,
                self.dropped,
            )
        if self._on_drop is not None:
            self._on_drop(entries)
        return False

    # ---- state ---------------------------------------------------------------------------

    @property
    def delivered(self) -> bool:
        """The store has every entry submitted so far (none waits in the queue). Asked
        between cycles: one under way has taken entries it has not delivered yet."""
        with self._lock:
            return not self._queue and self._acked == self._seq - 1

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what was submitted is delivered (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not self.delivered and time.monotonic() < deadline:
            if self._thread.is_alive():
                self._wake.set()
                time.sleep(0.02)
            else:
                self._cycle(force=True)
                time.sleep(0.05)
        return self.delivered

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the thread, deliver what waits (journaling what the store does not take)
        and try delivery until ``timeout``. True when the store has everything; else the
        rest stays in the journal for the next request log on this folder."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        deadline = time.monotonic() + timeout
        self._cycle(force=True)
        while not self.delivered and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.05, self._backoff.wait())))
            self._cycle(force=True)
        done = self.delivered
        self.journal.close()
        if done:
            jnl.remove(self.journal.path)
        else:
            log.warning(
                "assay: %d request-log batch(es) wait in %s; the next `assay serve` on this "
                "store delivers them",
                self._seq - 1 - self._acked,
                self.journal.path,
            )
        if self._store is not None:
            self._store.close()
            self._store = None
        return done

    # ---- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:  # never let the thread die: what was cut waits
                log.exception("assay: request-log cycle failed; retrying")

    def _cycle(self, force: bool = False) -> None:
        with self._lock:
            self._cut()
            if force or self._backoff.due():
                self._deliver()
            self._spool()

    def _cut(self) -> None:
        """Build what waits, in batches, into ``_fresh`` (delivered next, or journaled). A batch
        ends at MAX_BATCH_ENTRIES entries or BATCH_ARRAY_BYTES of their arrays (as the
        submitters counted them), so a record is seldom encoded twice for its size."""
        batches: list[list[RequestEntry]] = [[]]
        held = taken = taken_bytes = 0
        while self._queue:
            count, nbytes, build = self._queue.popleft()
            taken += count
            taken_bytes += nbytes
            if batches[-1] and held + nbytes > BATCH_ARRAY_BYTES:
                batches.append([])
                held = 0
            try:
                built = build()
            except Exception as exc:  # a builder that fails costs only its own entries
                self.dropped += count
                log.error("assay: %d request-log entries could not be built: %s", count, exc)
                continue
            held += nbytes
            batches[-1].extend(built)
        with self._count_lock:
            self._queued -= taken
            self._queued_bytes -= taken_bytes
        if not batches[0]:
            return
        for entries in batches:
            for start in range(0, len(entries), MAX_BATCH_ENTRIES):
                self._emit(entries[start : start + MAX_BATCH_ENTRIES])

    def _emit(self, entries: list[RequestEntry]) -> None:
        """One batch of ``entries`` into ``_fresh``, split in halves while its record is
        over MAX_BATCH_BYTES (a server's request limit is far above); an entry that cannot
        be encoded is dropped, counted and named in an error, the rest kept. Encoding it
        here (into one reused buffer) is that check: a store would fail on such an entry
        as on an outage, and retry it forever."""
        batch = RequestBatch(writer=self.writer_id, seq=self._seq, entries=entries)
        try:
            size = self._sizes.size(batch)
        except (TypeError, ValueError, OverflowError):
            kept = [e for e in entries if self._encodable(e)]
            if kept:
                self._emit(kept)
            return
        if size > MAX_BATCH_BYTES and len(entries) > 1:
            half = len(entries) // 2
            self._emit(entries[:half])
            self._emit(entries[half:])
            return
        self._seq += 1
        self._fresh.append(batch)

    def _spool(self) -> None:
        """Journal every batch of this cycle the store did not take (one fsync for them
        all); what it took is never written to the journal."""
        if not self._fresh:
            return
        while self._fresh:
            self._journal(self._fresh.popleft())
        if not self._journal_failing:
            try:
                self.journal.sync()
            except OSError as exc:
                self._journal_failed(exc)

    def _encodable(self, entry: RequestEntry) -> bool:
        try:
            jnl.encode_record(RequestBatch(writer=self.writer_id, seq=0, entries=[entry]))
        except (TypeError, ValueError, OverflowError) as exc:
            self.dropped += 1
            log.error(
                "assay: request-log entry %r of model %r cannot be stored (%s) and is dropped",
                entry.request_id,
                entry.model,
                exc,
            )
            return False
        return True

    def _journal(self, batch: RequestBatch) -> None:
        journaled = False
        try:
            self.journal.append(batch, sync=False)
            self._journal_top = batch.seq
            journaled = True
            if self._journal_failing:
                self._journal_failing = False
                log.warning("assay: the request-log journal %s takes data again", self.journal.path)
        except OSError as exc:
            self._journal_failed(exc)
        size = len(batch.entries)
        if not journaled:
            self._unjournaled += 1
        spill = self._spilled >= 0 or self._pending_entries + size > MAX_PENDING_ENTRIES
        if journaled and spill and not self._unjournaled:
            self._pending.clear()  # deliver these from the journal file
            self._pending_entries = 0
            self._spilled = batch.seq
            return
        if not journaled and self._pending_entries + size > MAX_PENDING_ENTRIES:
            self.dropped += size
            log.error(
                "assay: neither the journal %s nor the store takes request-log entries; "
                "%d entries are dropped (%d so far)",
                self.journal.path,
                size,
                self.dropped,
            )
            if self._on_drop is not None:
                self._on_drop(size)
            self._seq -= 1  # the last number given: the next batch takes it
            return
        self._pending.append(batch)
        self._pending_entries += size

    def _journal_failed(self, exc: OSError) -> None:
        if not self._journal_failing:
            self._journal_failing = True
            log.error(
                "assay: cannot write the request-log journal %s (%s); entries wait in memory "
                "(up to %d) and are delivered from there",
                self.journal.path,
                exc,
                MAX_PENDING_ENTRIES,
            )

    # ---- to the store --------------------------------------------------------------------

    def _deliver(self) -> None:
        if self._acked == self._seq - 1 and not self._orphans:
            return
        try:
            store = self._store or self._connect()
            self._store = store
            if self._spilled > self._acked:
                for batch in jnl.read_journal(self.journal.path, self._acked, RequestBatch):
                    if batch.seq > self._spilled:
                        break
                    self._write(store, self.journal.path, batch)
                    self._acked = batch.seq
            self._spilled = -1
            while self._pending:
                batch = self._pending[0]
                if batch.seq > self._acked:
                    self._write(store, self.journal.path, batch)
                    self._acked = batch.seq
                self._pending_entries -= len(self._pending.popleft().entries)
            self._unjournaled = 0  # every batch in memory is delivered
            while self._fresh:  # after every older batch: the acked mark stays in order
                self._write(store, self.journal.path, self._fresh[0])
                self._acked = self._fresh.popleft().seq
            self._recover(store)
        except Exception as exc:
            self._failed(exc)
            return
        if self._backoff.succeeded():
            log.warning("assay: the store is reachable again; request-log delivery resumed")
        # the mark only matters for batches in the journal: none written, none to mark
        if self._journal_top > self._acked_mark and jnl.write_acked(self.journal.path, self._acked):
            self._acked_mark = self._acked

    def _recover(self, store: Store) -> None:
        """Deliver journals an earlier request log left (a server stopped during an
        outage, or killed), then remove them; one still held by a live process stays."""
        while self._orphans:
            path = self._orphans[0]
            if not jnl.is_locked(path):
                acked = jnl.read_acked(path)
                for batch in jnl.read_journal(path, acked, RequestBatch):
                    self._write(store, path, batch)
                    jnl.write_acked(path, batch.seq)
                jnl.remove(path)
                log.info("assay: delivered the request log left in %s", path)
            self._orphans.pop(0)

    def _write(self, store: Store, path: Path, batch: RequestBatch) -> None:
        """One batch; one the store refuses is set aside in a dead-letter file beside the
        journal, named in an error, and delivery moves on."""
        try:
            store.requests.write_batch(batch)
        except REFUSED as exc:
            where = jnl.dead_letter(path, batch)
            log.error(
                "assay: the store refused request-log batch %d (%s); it is kept in %s",
                batch.seq,
                redact_text(str(exc)),
                where,
            )

    def _failed(self, exc: Exception) -> None:
        if self._backoff.failed(cap=MAX_BACKOFF):
            log.warning(
                "assay: cannot deliver the request log (%s); requests are still answered, "
                "the entries wait in %s and delivery is retried",
                redact_text(str(exc)) or type(exc).__name__,
                self.journal.path,
            )
        if self._store is not None:
            try:
                self._store.close()
            finally:
                self._store = None
