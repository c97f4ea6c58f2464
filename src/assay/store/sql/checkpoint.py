"""WAL checkpoints of an embedded SQLite store, off the writers' path.

SQLite in WAL mode appends each commit to the ``-wal`` file and, by default, the commit
that takes the WAL past 1,000 pages copies it back into the database (a checkpoint,
with an fsync) before it returns: that write waits tens of milliseconds more than the
others. A store written by this process turns that off (``wal_autocheckpoint = 0``)
and checkpoints from a thread of its own instead: ``PASSIVE`` (it never waits for
readers or writers) about every ``INTERVAL`` seconds while something was written since,
and ``TRUNCATE`` (which resets the file to nothing) once the WAL has grown past ``LIMIT``
bytes, as it does when writes follow each other too closely for a writer to find it all
checkpointed and start it over, or when readers hold old snapshots. A TRUNCATE waits for
such readers, and new writers wait for it meanwhile: it waits ``BUSY_MS`` at most, and
after a refusal only PASSIVE checkpoints are made for ``TRUNCATE_BACKOFF`` seconds, unless
the WAL is four times past its limit (then it waits up to ``BUSY_MS_FAR_PAST``).

The thread starts with the first write and checkpoints only when another connection has
committed since its last checkpoint (``PRAGMA data_version``); it stops when the store
is closed, after a last checkpoint. A process forked from one whose thread ran has no
thread (fork copies one thread only): the child's checkpointer forgets the parent's and
starts its own on its first write.
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

log = logging.getLogger(__name__)

INTERVAL = 0.1  # seconds between two checkpoints while there are writes
LIMIT = 128 << 20  # a WAL larger than this is checkpointed and truncated
# How long TRUNCATE waits for readers of old snapshots (new writers wait meanwhile)
# before it gives up until the next interval: briefly, unless the WAL is far past its
# limit because readers kept it from being truncated so far.
BUSY_MS = 100
BUSY_MS_FAR_PAST = 5_000
TRUNCATE_BACKOFF = 1.0  # seconds of PASSIVE checkpoints only after readers refused one

_live: weakref.WeakSet[Checkpointer] = weakref.WeakSet()
# connections of a parent process, left open in a forked child: closing one there could
# checkpoint or delete the parent's WAL (SQLite connections must not cross a fork)
_inherited: list[sqlite3.Connection] = []


class Checkpointer:
    """The WAL checkpoints of one SQLite database file (see the module's docstring)."""

    def __init__(self, db: Path, interval: float | None = None, limit: int | None = None) -> None:
        """``interval`` and ``limit``: INTERVAL and LIMIT unless given."""
        self.db = db
        self.wal = Path(f"{db}-wal")
        self.interval = INTERVAL if interval is None else interval
        self.limit = LIMIT if limit is None else limit
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        """A checkpointer with no thread yet (at start, and in a forked child)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def attach(self, engine: sa.Engine) -> None:
        """Turn off the writers' own checkpoints on ``engine``'s connections and learn
        from it when a transaction has committed."""

        @sa.event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA wal_autocheckpoint = 0")
            cur.close()

        @sa.event.listens_for(engine, "commit")
        def _committed(_conn: sa.Connection) -> None:
            self.written()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def written(self) -> None:
        """Something is being committed: start the thread, if it is not running."""
        if self._thread is not None or self._closed:
            return
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="assay-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop the thread, wait for it, and checkpoint what is left (truncating the
        WAL when no reader holds it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join()
        if thread is not None:
            with contextlib.suppress(sqlite3.Error):
                self._checkpoint("TRUNCATE")
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        _live.discard(self)

    def _run(self) -> None:
        """Every ``interval``: a checkpoint if another connection (of this process or
        another) has committed since the last one, or the last one was left unfinished."""
        seen: int | None = None
        unfinished = False
        truncate_at = 0.0  # not before this (monotonic): readers refused the last one
        while not self._stop.wait(self.interval):
            try:
                version = self._data_version()
                if version == seen and not unfinished:
                    continue
                seen = version
                size = self._wal_size()
                if size > self.limit and time.monotonic() >= truncate_at:
                    wait = BUSY_MS if size <= 4 * self.limit else BUSY_MS_FAR_PAST
                    unfinished = not self._checkpoint("TRUNCATE", wait)
                    truncate_at = time.monotonic() + (TRUNCATE_BACKOFF if unfinished else 0.0)
                else:  # unfinished while readers hold part of it, or it is still too long
                    unfinished = not self._checkpoint("PASSIVE") or size > self.limit
            except sqlite3.Error as exc:  # busy, or the file went away: try again later
                log.debug("WAL checkpoint of %s failed: %s", self.db, exc)
                unfinished = True

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
        return not busy and copied == frames

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:
            return 0


def _after_fork_in_child() -> None:
    for checkpointer in list(_live):
        if checkpointer._conn is not None:
            _inherited.append(checkpointer._conn)
        closed = checkpointer._closed
        checkpointer._reset()
        checkpointer._closed = closed


os.register_at_fork(after_in_child=_after_fork_in_child)
