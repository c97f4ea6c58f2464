"""WAL checkpoints of the embedded SQLite stores of a process, off the writers' path.

SQLite in WAL mode appends each commit to the ``-wal`` file and, by default, the commit
that takes the WAL past 1,000 pages copies it back into the database (a checkpoint,
with an fsync) before it returns: that write waits tens of milliseconds more than the
others. A store written by this process turns that off (``wal_autocheckpoint = 0``)
and leaves its checkpoints to the process's checkpointing thread instead: ``PASSIVE``
(it never waits for readers or writers) about every ``INTERVAL`` seconds while
something was written since.

A writer starts the WAL over (from its first byte, the file kept) when it begins after
a checkpoint that copied all of it and no reader still uses it. Under sustained writes
that never happens by itself: a PASSIVE checkpoint copies the WAL as it was when it
began, and commits land while it copies, so the WAL only grows. Once the WAL holds more
than ``RESTART_AT`` bytes, the thread therefore copies what a PASSIVE checkpoint left
with this process's writers held back (``write_gate.py``: none under way, none
beginning; it waits ``BUSY_MS`` at most for those under way, else tries again at its
next look): that copy is short, it is complete, and the next writer starts the WAL
over. A file that grew (readers kept it from starting over) is cut back to ``KEPT``
bytes by the first commit after it starts over (``journal_size_limit``).

When that fails for long (readers holding old snapshots, or writers of other processes
overtaking the copy), ``TRUNCATE`` (which resets the file to nothing) is made once the
WAL file has grown past ``LIMIT`` bytes. A TRUNCATE waits for such readers, and new
writers wait for it meanwhile: it waits ``BUSY_MS`` at most, and after a refusal only
PASSIVE checkpoints are made for ``TRUNCATE_BACKOFF`` seconds, unless the WAL is four
times past its limit (then it waits up to ``BUSY_MS_FAR_PAST``).

One thread serves every store of the process (``_Watcher``), not one thread each: a
program that opens many stores and never closes them (a test suite, a notebook, a
server with a store per tenant) would otherwise pay a thread per store. A store is
handed to it by its first commit, and looked at when its ``interval`` has passed since
the last look; it is checkpointed only when another connection has committed since
(``PRAGMA data_version``). The thread holds a store's ``Checkpointer`` weakly, and the
checkpointer holds neither the store nor its engine: a store dropped without being
closed is garbage-collected as before and drops out, its checkpoint connection closed
with it. A failing checkpoint (the file went away, a bug) is that store's alone: it is
logged and tried again at its next look, the others go on. The thread starts with the
first store that writes and ends when none is left; closing a store removes it (after
a last checkpoint). The checkpoints of several stores are made one after the other:
a PASSIVE one copies what the WAL holds without waiting, so a store's turn costs the
others little; a TRUNCATE that waits for readers delays the others' turns by
``BUSY_MS`` (or ``BUSY_MS_FAR_PAST``) at most, and theirs are PASSIVE checkpoints no
writer waits for, so a delay lets their WAL grow a little, never holds a writer back.

A process forked from one whose thread ran has no thread (fork copies one thread only):
the child forgets the parent's thread, the stores it watched and their connections, and
starts its own thread on its first write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from assay.store.sql.write_gate import WriteGate

log = logging.getLogger(__name__)

INTERVAL = 0.1  # seconds between two checkpoints while there are writes
RESTART_AT = 32 << 20  # a WAL holding more than this is copied with the writers held back
KEPT = 64 << 20  # a WAL file that starts over is cut back to this (journal_size_limit)
LIMIT = 128 << 20  # a WAL file larger than this is checkpointed and truncated
# How long TRUNCATE waits for readers of old snapshots (new writers wait meanwhile)
# before it gives up until the next interval: briefly, unless the WAL is far past its
# limit because readers kept it from being truncated so far.
BUSY_MS = 100
# How long starting the WAL over waits for the readers that began before its copy was
# done (this process's writers wait meanwhile): short reads only.
START_OVER_MS = 20
START_OVER_BACKOFF = 0.25  # seconds without holding writers back after readers refused it
BUSY_MS_FAR_PAST = 5_000
TRUNCATE_BACKOFF = 1.0  # seconds of PASSIVE checkpoints only after readers refused one
THREAD_NAME = "assay-wal-checkpoint"

_live: weakref.WeakSet[Checkpointer] = weakref.WeakSet()
# connections of a parent process, left open in a forked child: closing one there could
# checkpoint or delete the parent's WAL (SQLite connections must not cross a fork)
_inherited: list[sqlite3.Connection] = []


class Checkpointer:
    """The WAL checkpoints of one SQLite database file (see the module's docstring)."""

    def __init__(
        self,
        db: Path,
        interval: float | None = None,
        limit: int | None = None,
        restart_at: int | None = None,
    ) -> None:
        """``interval``, ``limit`` and ``restart_at``: INTERVAL, LIMIT and RESTART_AT
        unless given."""
        self.db = db
        self.wal = Path(f"{db}-wal")
        self.interval = INTERVAL if interval is None else interval
        self.limit = LIMIT if limit is None else limit
        self.restart_at = RESTART_AT if restart_at is None else restart_at
        self.gate = WriteGate()  # the store's write transactions pass through it
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        """A checkpointer not yet watched (at start, and in a forked child)."""
        self._lock = threading.Lock()  # one checkpoint at a time, and close waits for it
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self.watched = False  # handed to the process's thread by a commit
        self.due = 0.0  # when the thread looks next (time.monotonic)
        self._seen: int | None = None  # data_version at the last look
        self._unfinished = False  # the last checkpoint left part of the WAL
        self._hold_at = 0.0  # nothing that holds writers back before this: readers refused
        # the last TRUNCATE (TRUNCATE_BACKOFF) or start-over (START_OVER_BACKOFF)
        self._failing = False  # the last look failed for something other than SQLite
        self._frames = 0  # frames in the WAL at the last checkpoint
        self._frame_bytes = 0  # a frame's size: the page size and its header
        self.gate.reset()

    def attach(self, engine: sa.Engine) -> None:
        """Turn off the writers' own checkpoints on ``engine``'s connections and learn
        from it when a transaction has committed."""

        @sa.event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA wal_autocheckpoint = 0")
            cur.execute(f"PRAGMA journal_size_limit = {KEPT}").fetchall()
            cur.close()

        @sa.event.listens_for(engine, "commit")
        def _committed(_conn: sa.Connection) -> None:
            self.written()

    @property
    def running(self) -> bool:
        """Whether the process's thread is checkpointing this file."""
        return self.watched and not self._closed and _watcher.alive()

    def written(self) -> None:
        """Something is being committed: have the process's thread watch this file."""
        if self.watched or self._closed:
            return
        _watcher.watch(self)

    def close(self) -> None:
        """Stop watching, waiting for a checkpoint under way, and checkpoint what is
        left (truncating the WAL when no reader holds it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _watcher.forget(self)
        with self._lock:
            if self.watched:
                with contextlib.suppress(sqlite3.Error):
                    self._checkpoint("TRUNCATE")
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        _live.discard(self)

    def look(self) -> None:
        """The thread's turn on this file: a checkpoint if another connection (of this
        process or another) has committed since the last look, or the last checkpoint
        was left unfinished. A failure is logged and tried again at the next look."""
        with self._lock:
            if self._closed:
                return
            try:
                self._step()
                self._failing = False
            except sqlite3.Error as exc:  # busy, or the file went away: try again later
                log.debug("WAL checkpoint of %s failed: %s", self.db, exc)
                self._unfinished = True
            except Exception:
                if not self._failing:  # once, not at every look
                    log.warning("WAL checkpoint of %s failed", self.db, exc_info=True)
                self._failing = True
                self._unfinished = True
            finally:
                self.due = time.monotonic() + self.interval

    def _step(self) -> None:
        version = self._data_version()
        if version == self._seen and not self._unfinished:
            return
        self._seen = version
        size = self._wal_size()
        may_hold = time.monotonic() >= self._hold_at
        if size > self.limit and may_hold:
            wait = BUSY_MS if size <= 4 * self.limit else BUSY_MS_FAR_PAST
            self._unfinished = not self._checkpoint("TRUNCATE", wait)
            self._hold_at = time.monotonic() + (TRUNCATE_BACKOFF if self._unfinished else 0)
        else:  # unfinished while readers hold part of it, or it is still too long
            copied = self._checkpoint("PASSIVE")
            if copied and may_hold and self._frames * self._frame_size() > self.restart_at:
                copied = self._start_over()
                self._hold_at = time.monotonic() + (0 if copied else START_OVER_BACKOFF)
            self._unfinished = not copied or size > self.limit

    def _start_over(self) -> bool:
        """Copy what is left of the WAL with this process's writers held back, and wait
        for the readers that began before the copy was done, so that the next writer
        starts it over; whether that worked (a writer under way for longer than BUSY_MS,
        a reader for longer than START_OVER_MS, or another process's writer refuses it)."""
        with self.gate.held(BUSY_MS / 1000) as idle:
            return idle and self._checkpoint("RESTART", START_OVER_MS)

    def _frame_size(self) -> int:
        if not self._frame_bytes:
            [(page,)] = self._connection().execute("PRAGMA page_size").fetchall()
            self._frame_bytes = int(page) + 24
        return self._frame_bytes

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                self.db,
                timeout=BUSY_MS_FAR_PAST / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        return self._conn

    def _data_version(self) -> int:
        """A number that changes whenever another connection commits to the database."""
        # fetchall: a statement left unfinished would hold a read transaction open, and
        # no checkpoint could then let the WAL start over
        return int(self._connection().execute("PRAGMA data_version").fetchall()[0][0])

    def _checkpoint(self, mode: str, wait_ms: int = BUSY_MS_FAR_PAST) -> bool:
        """One checkpoint, waiting at most ``wait_ms`` for other connections (PASSIVE
        never waits); whether it copied the whole WAL into the database."""
        conn = self._connection()
        conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}").fetchall()
        [(busy, frames, copied)] = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        self._frames = frames
        return not busy and copied == frames

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:
            return 0


class _Watcher:
    """The process's checkpointing thread and the files it watches (held weakly)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._watched: weakref.WeakSet[Checkpointer] = weakref.WeakSet()
        self._thread: threading.Thread | None = None

    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def count(self) -> int:
        with self._lock:
            return len(self._watched)

    def watch(self, checkpointer: Checkpointer) -> None:
        """Look at ``checkpointer``'s file from now on, starting the thread if needed."""
        with self._lock:
            if checkpointer.watched or checkpointer._closed:  # a closing one stays out
                return
            checkpointer.watched = True
            checkpointer.due = time.monotonic() + checkpointer.interval
            self._watched.add(checkpointer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            self._changed.notify()

    def forget(self, checkpointer: Checkpointer) -> None:
        """Look no more at ``checkpointer``'s file; the last one out waits for the
        thread to end."""
        with self._lock:
            self._watched.discard(checkpointer)
            if len(self._watched) or self._thread is None:
                return
            thread, self._thread = self._thread, None
            self._changed.notify()
        if thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        me = threading.current_thread()
        while self._turn(me):
            pass

    def _turn(self, me: threading.Thread) -> bool:
        """Wait for the first file due, look at every file then due; whether to go on.
        Nothing watched is held while waiting, so a dropped store can be collected."""
        with self._lock:
            while True:
                if self._thread is not me:
                    return False
                found = self._due()
                if found is None:
                    self._thread = None
                    return False
                due, wait = found
                if due:
                    break
                self._changed.wait(wait)
        for checkpointer in due:
            checkpointer.look()
        return True

    def _due(self) -> tuple[list[Checkpointer], float] | None:
        """The files due now, and how long until the first one is; None when nothing is
        watched. One copy of the set: a store collected meanwhile leaves it at any time."""
        watched = list(self._watched)
        if not watched:
            return None
        now = time.monotonic()
        return [c for c in watched if c.due <= now], min(c.due for c in watched) - now


_watcher = _Watcher()


def watched() -> int:
    """How many files the process's thread checkpoints (stores written and not closed)."""
    return _watcher.count()


def _after_fork_in_child() -> None:
    global _watcher
    _watcher = _Watcher()
    for checkpointer in list(_live):
        if checkpointer._conn is not None:
            _inherited.append(checkpointer._conn)
        closed = checkpointer._closed
        checkpointer._reset()
        checkpointer._closed = closed


os.register_at_fork(after_in_child=_after_fork_in_child)
