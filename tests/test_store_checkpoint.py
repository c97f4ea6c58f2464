"""An embedded store's WAL is checkpointed off the writers' path, by one thread that
serves every store of the process: the WAL stays bounded under continuous writes, is
truncated once past its limit, a closed store is checkpointed a last time and left, a
dropped one is left too, one store's failure is its own, and the thread ends with the
last store (in a forked child too)."""

from __future__ import annotations

import gc
import itertools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.records import Span
from assay.store.sql import checkpoint
from assay.store.sql.store import SqlStore
from tests.test_store_opening import frozen_copy  # noqa: F401 (a fixture)

T0 = 1_700_000_000 * 10**9
BIG = "x" * 8_000  # an attribute that makes each span about 8 KB
THREAD = checkpoint.THREAD_NAME


def spans(write: int, n: int = 30) -> list[Span]:
    """Write ``write``'s spans: one trace of ``n`` spans of about 8 KB each."""
    return [
        Span(
            project="p",
            trace_id=f"{write + 1:032x}",
            span_id=f"{i + 1:016x}",
            parent_id=None if i == 0 else f"{1:016x}",
            name=f"step {i}",
            start_ns=T0 + i,
            end_ns=T0 + i + 1,
            attributes={"payload": BIG},
        )
        for i in range(n)
    ]


def wal_size(root: Path) -> int:
    wal = root / "assay.db-wal"
    return wal.stat().st_size if wal.exists() else 0


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


def eventually(check: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_writers_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    store.traces.write(spans(0))
    assert store.checkpoints is not None and store.checkpoints.running
    store.close()


def test_the_wal_stays_bounded_under_continuous_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "LIMIT", 2 << 20)
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    largest = 0
    for write in range(120):  # about 29 MB of spans, written over a second or more
        store.traces.write(spans(write))
        largest = max(largest, wal_size(root))
        time.sleep(0.01)
    written = 120 * 30 * len(BIG)
    # a writer starts the WAL over after a checkpoint that copied all of it, or, when
    # writes follow each other too closely for that, the thread truncates it once past
    # its limit: it holds a few limits' worth, not everything since the store opened
    assert largest < written / 3, f"WAL reached {largest:,} bytes of {written:,} written"
    assert store.traces.get(f"{120:032x}").n_spans == 30
    store.close()


def test_a_wal_past_its_limit_is_truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "LIMIT", 0)
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    for write in range(5):
        store.traces.write(spans(write))
    assert eventually(lambda: wal_size(root) == 0)
    store.close()


def test_a_reader_holding_the_wal_keeps_writers_waiting_only_briefly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "LIMIT", 1 << 20)
    truncates: list[tuple[int, float, bool]] = []  # (wait_ms, when, copied everything)
    made = checkpoint.Checkpointer._checkpoint

    def recorded(self: checkpoint.Checkpointer, mode: str, wait_ms: int = 0) -> bool:
        copied = made(self, mode, wait_ms)
        if mode == "TRUNCATE":
            truncates.append((wait_ms, time.monotonic(), copied))
        return copied

    monkeypatch.setattr(checkpoint.Checkpointer, "_checkpoint", recorded)
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    store.traces.write(spans(0))
    reader = sqlite3.connect(root / "assay.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM spans").fetchall()  # a snapshot held open
    for write in range(1, 9):  # past the limit, short of four times it
        store.traces.write(spans(write))
        time.sleep(0.05)
    # a TRUNCATE waiting for the reader holds new writers back: for BUSY_MS at a time,
    # with PASSIVE checkpoints only for TRUNCATE_BACKOFF after each refusal
    refused = [t for t in truncates if not t[2]]
    assert refused, "the WAL passed its limit but no TRUNCATE was tried"
    assert all(wait == checkpoint.BUSY_MS for wait, _, _ in truncates)
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(refused)]
    assert all(gap >= checkpoint.TRUNCATE_BACKOFF for gap in gaps), gaps
    assert wal_size(root) > 1 << 20  # the reader kept it from being truncated
    reader.execute("COMMIT")
    reader.close()
    assert eventually(lambda: wal_size(root) == 0)
    store.close()


def test_closing_the_store_stops_checkpointing_it_and_keeps_the_data(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    assert store.traces.write(spans(0)) == 30
    assert store.checkpoints is not None and store.checkpoints.running
    assert len(checkpoint_threads()) == 1  # stores other tests left open share it
    store.close()
    assert not store.checkpoints.running
    assert eventually(lambda: len(checkpoint_threads()) == min(1, checkpoint.watched()))
    assert wal_size(root) == 0  # the last checkpoint copied everything into the database
    again = SqlStore.embedded(root)
    assert again.traces.get(f"{1:032x}").n_spans == 30
    again.close()


def test_one_thread_checkpoints_every_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "LIMIT", 0)
    stores = [SqlStore.embedded(tmp_path / f"store-{i}") for i in range(12)]
    for i, store in enumerate(stores):
        store.traces.write(spans(i, n=4))
    assert all(s.checkpoints is not None and s.checkpoints.running for s in stores)
    assert len(checkpoint_threads()) == 1
    assert checkpoint.watched() >= 12
    assert eventually(lambda: all(wal_size(tmp_path / f"store-{i}") == 0 for i in range(12)))
    for store in stores:
        store.close()
    assert eventually(lambda: len(checkpoint_threads()) == min(1, checkpoint.watched()))


def test_a_store_dropped_without_closing_is_left_and_not_kept_alive(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    store.traces.write(spans(0))
    assert store.checkpoints is not None and store.checkpoints.running
    watched = checkpoint.watched()
    dropped, its_checkpointer = weakref.ref(store), weakref.ref(store.checkpoints)
    del store
    # the thread holds the checkpointer only during a look at the file, never the store
    assert eventually(lambda: gc.collect() >= 0 and its_checkpointer() is None)
    assert dropped() is None
    assert checkpoint.watched() <= watched - 1
    # nothing left to watch, the thread ends by itself
    assert eventually(lambda: len(checkpoint_threads()) == min(1, checkpoint.watched()))


def test_a_failing_checkpoint_leaves_the_other_stores_checkpointed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "LIMIT", 0)
    broken, sound = (SqlStore.embedded(tmp_path / name) for name in ("broken", "sound"))
    assert broken.checkpoints is not None and sound.checkpoints is not None
    failed = threading.Event()

    def fail(mode: str, wait_ms: int = 0) -> bool:
        failed.set()
        raise RuntimeError("the checkpoint broke")

    monkeypatch.setattr(broken.checkpoints, "_checkpoint", fail)
    for write in range(3):
        broken.traces.write(spans(write))
        sound.traces.write(spans(write))
    assert eventually(failed.is_set)
    sound.traces.write(spans(3))  # written after the failure: still checkpointed
    assert eventually(lambda: wal_size(tmp_path / "sound") == 0)
    assert wal_size(tmp_path / "broken") > 0 and broken.checkpoints.running
    monkeypatch.undo()  # mended: its next look checkpoints it
    assert eventually(lambda: wal_size(tmp_path / "broken") == 0)
    broken.close()
    sound.close()


def test_no_thread_is_left_behind_by_many_stores(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    for i in range(25):
        store = SqlStore.embedded(tmp_path / f"store-{i % 3}")
        store.traces.write(spans(i, n=2))
        store.close()
    assert set(threading.enumerate()) <= before


def test_a_store_that_reads_only_never_starts_the_thread(tmp_path: Path) -> None:
    SqlStore.embedded(tmp_path / "store").close()
    store = SqlStore.embedded(tmp_path / "store")
    assert store.traces.list("p") == []
    assert store.checkpoints is not None and not store.checkpoints.running
    store.close()


def test_a_read_only_store_has_no_checkpointer(
    frozen_copy: tuple[Path, str],  # noqa: F811
) -> None:
    store = SqlStore.embedded(frozen_copy[0])
    assert store.read_only and store.checkpoints is None
    store.close()


def test_a_database_without_a_file_of_its_own_has_no_checkpointer(
    postgres_url: str, tmp_path: Path
) -> None:
    for url in ("sqlite://", postgres_url):
        store = SqlStore.from_url(url, blobs=tmp_path / "blobs")
        assert store.checkpoints is None
        store.close()


def test_a_sqlite_url_gets_a_checkpointer(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'a.db'}", blobs=tmp_path / "blobs")
    store.traces.write(spans(0))
    assert store.checkpoints is not None and store.checkpoints.running
    store.close()
    assert not store.checkpoints.running and len(checkpoint_threads()) <= 1


def test_a_forked_child_checkpoints_with_a_thread_of_its_own(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    store.traces.write(spans(0))
    assert store.checkpoints is not None and store.checkpoints.running
    pid = os.fork()
    if pid == 0:  # the child: no thread came along; its first write starts one, its
        # last store closed ends it
        code = 1
        try:
            store.engine.dispose(close=False)  # the parent's connections stay the parent's
            ok = not store.checkpoints.running
            store.traces.write(spans(1))
            ok = ok and store.checkpoints.running and checkpoint.watched() == 1
            store.close()
            code = 0 if ok and checkpoint_threads() == [] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.checkpoints.running  # the parent's thread goes on
    assert store.traces.get(f"{2:032x}").n_spans == 30  # the child's write is stored
    store.close()


def test_the_wal_starts_over_under_sustained_writes_with_a_reader_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no TRUNCATE by size: only starting the WAL over can keep it short
    monkeypatch.setattr(checkpoint, "LIMIT", 1 << 40)
    monkeypatch.setattr(checkpoint, "RESTART_AT", 1 << 20)
    monkeypatch.setattr(checkpoint, "INTERVAL", 0.02)
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    store.traces.write(spans(0))
    done = threading.Event()
    largest = 0

    def write(first: int) -> None:
        nonlocal largest
        for write in range(first, first + 240, 2):  # back to back: a commit lands during
            store.traces.write(spans(write))  # every checkpoint the thread makes
            largest = max(largest, wal_size(root))

    def read() -> None:  # short read transactions all along, as a server's pages make
        while not done.is_set():
            store.traces.list("p", limit=5)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(first,)) for first in (1, 2)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    written = 240 * 30 * len(BIG)
    assert largest < written / 3, f"WAL reached {largest:,} bytes of {written:,} written"
    assert store.traces.get(f"{240:032x}").n_spans == 30
    store.close()


def test_a_wal_file_that_grew_is_cut_back_when_it_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "LIMIT", 1 << 40)
    monkeypatch.setattr(checkpoint, "RESTART_AT", 0)
    monkeypatch.setattr(checkpoint, "KEPT", 1 << 20)
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    assert store.checkpoints is not None
    store.traces.write(spans(0))
    reader = sqlite3.connect(root / "assay.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM spans").fetchall()  # a snapshot held open
    for write in range(1, 30):
        store.traces.write(spans(write))
    grown = wal_size(root)
    assert grown > 4 << 20  # nothing could be copied past the reader's snapshot
    reader.execute("COMMIT")
    reader.close()
    store.checkpoints.look()  # all copied: the next writer starts the WAL over
    store.traces.write(spans(30))
    assert wal_size(root) <= 1 << 20 < grown
    assert store.traces.get(f"{30:032x}").n_spans == 30
    store.close()
