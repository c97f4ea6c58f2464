"""The writer's backlog goes to the store several batches a request (sdk/backlog.py),
keeping the journal's guarantees: in order, acknowledged once the store has it, applied
once on retry, nothing dropped, and a batch the store refuses set aside alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

import assay
from assay.errors import InvalidInput, StoreUnavailable
from assay.records import Batch, BlobData, Heartbeat
from assay.sdk import backlog
from assay.sdk import journal as jnl
from assay.sdk import writer as writer_mod
from assay.sdk.settings import Settings
from assay.sdk.sync import sync
from assay.store import Store, open_store
from assay.store.facets.runs import ManyBatches
from tests.conftest import QUIET, create_op, points


class BacklogStore:
    """A store twin (its own runs facet: the writer uses no other) that is down while
    ``down`` is set, refuses the batch numbered ``refuse_seq`` as invalid, loses the
    answer to the first ``lose_answers`` requests after applying them, and records the
    batches of every request."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = threading.Event()
        self.refuse_seq = -1
        self.lose_answers = 0
        self.requests: list[list[int]] = []

    @property
    def runs(self) -> BacklogStore:
        return self

    @property
    def uri(self) -> str:
        return self.inner.uri

    def get(self, run_id: str) -> Any:
        return self.inner.runs.get(run_id)

    def write_batch(self, batch: Batch) -> bool:
        return self.write_batches([batch])[0]

    def write_batches(self, batches: Sequence[Batch], actor: str | None = None) -> list[bool]:
        if self.down.is_set():
            raise StoreUnavailable("the store is down (test)")
        self.requests.append([b.seq for b in batches])
        if any(b.seq == self.refuse_seq for b in batches):
            raise InvalidInput("unknown operation (test)")
        runs = self.inner.runs
        assert isinstance(runs, ManyBatches)
        applied = runs.write_batches(batches)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise StoreUnavailable("the answer was lost after the store committed (test)")
        return list(applied)

    def close(self) -> None:
        pass


def backlog_run(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, down: bool = True
) -> tuple[Any, BacklogStore]:
    twin = BacklogStore(open_store(store_uri))
    if down:
        twin.down.set()
    monkeypatch.setattr("assay.sdk.init.open_store", lambda uri: twin)
    monkeypatch.setattr(writer_mod, "MAX_BACKOFF", 0.05)
    settings = Settings(**{**QUIET.__dict__, "flush_interval": 0.01, "finish_timeout": 10})
    return assay.init(project="p", uri=store_uri, settings=settings), twin


def log_batches(run: Any, count: int) -> None:
    """``count`` batches, one step each: step i in the i-th (a flush cuts a batch)."""
    for i in range(count):
        run.log({"x": float(i)}, step=i)
        run.flush(timeout=5)


def test_a_backlog_after_an_outage_goes_several_batches_a_request_in_order(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, twin = backlog_run(store_uri, monkeypatch)
    log_batches(run, 20)
    assert twin.requests == []
    twin.down.clear()
    assert run.finish() is True
    delivered = [seq for request in twin.requests for seq in request]
    assert delivered == sorted(delivered) == list(range(delivered[0], delivered[-1] + 1))
    assert max(len(request) for request in twin.requests) > 1
    assert len(twin.requests) < len(delivered)
    got = twin.inner.runs.get(run.id)
    assert got.status == "finished" and got.metrics["x"].count == 20
    series = twin.inner.runs.history(run.id, ["x"])["x"]
    assert series.steps.tolist() == list(range(20))


def test_a_batch_refused_in_a_backlog_is_set_aside_alone_and_the_others_are_delivered(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run, twin = backlog_run(store_uri, monkeypatch, down=False)
    run.flush(timeout=5)  # the run exists
    assert run._writer is not None
    first = run._writer._seq
    twin.down.set()
    log_batches(run, 10)
    refused = twin.refuse_seq = first + 4  # the fifth of the ten waiting
    twin.down.clear()
    journal = run.journal_dir
    assert run.finish() is True  # set aside is not lost: the rejected file keeps it
    assert any(len(request) > 1 and refused in request for request in twin.requests)
    assert any(f"refused batch {refused}" in r.getMessage() for r in caplog.records)
    series = twin.inner.runs.history(run.id, ["x"])["x"]
    assert series.steps.tolist() == [s for s in range(10) if s != 4]
    assert journal is not None
    rejected = list(journal.glob("*.rejected"))
    assert len(rejected) == 1 and [b.seq for b in jnl.read_journal(rejected[0])] == [refused]


def test_a_request_whose_answer_was_lost_is_sent_again_and_applied_once(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, twin = backlog_run(store_uri, monkeypatch)
    log_batches(run, 10)
    twin.lose_answers = 1  # the store commits the backlog; the client never hears it
    twin.down.clear()
    assert run.finish() is True
    assert len(twin.requests[0]) > 1
    assert set(twin.requests[0]) <= {s for r in twin.requests[1:] for s in r}  # sent again
    got = twin.inner.runs.get(run.id)
    assert got.metrics["x"].count == 10  # exactly once
    assert twin.inner.runs.history(run.id, ["x"])["x"].steps.tolist() == list(range(10))


def test_nothing_is_acknowledged_while_the_request_holding_it_fails(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, twin = backlog_run(store_uri, monkeypatch)
    log_batches(run, 5)
    assert run._writer is not None
    assert run._writer._acked == -1 and not run._writer.delivered
    twin.down.clear()
    assert run.finish() is True
    assert run._writer._acked == run._writer._seq - 1


def test_a_backlog_read_back_from_the_journal_file_goes_several_batches_a_request(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "MAX_PENDING_POINTS", 50)
    run, twin = backlog_run(store_uri, monkeypatch)
    log_batches(run, 40)
    assert run._writer is not None and run._writer._spilled  # delivery reads the file
    twin.down.clear()
    assert run.finish() is True
    assert max(len(request) for request in twin.requests) > 1
    series = twin.inner.runs.history(run.id, ["x"])["x"]
    assert series.steps.tolist() == list(range(40))


def test_a_store_that_takes_one_batch_a_call_gets_them_one_at_a_time(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OneAtATime:
        def __init__(self, inner: Store) -> None:
            self.inner = inner
            self.calls = 0

        @property
        def runs(self) -> OneAtATime:
            return self

        def write_batch(self, batch: Batch) -> bool:
            self.calls += 1
            return self.inner.runs.write_batch(batch)

        def close(self) -> None:
            pass

    twin = OneAtATime(open_store(store_uri))
    assert not isinstance(twin.runs, ManyBatches)
    monkeypatch.setattr("assay.sdk.init.open_store", lambda uri: twin)
    run = assay.init(project="p", uri=store_uri, settings=QUIET)
    log_batches(run, 5)
    assert run.finish() is True
    assert twin.inner.runs.get(run.id).metrics["x"].count == 5


def _dead_writer(folder: Path, store_uri: str, count: int) -> tuple[Path, BacklogStore]:
    """A dead writer's journal of run r1 (its creation, then ``count`` batches of one
    step each) and a twin of the store at ``store_uri`` to sync it to."""
    path = folder / "r1" / "w.jnl"
    path.parent.mkdir()
    batches = [Batch(run_id="r1", writer="w", seq=0, ops=[create_op(name="n", created_at=1.0)])]
    batches += [
        Batch(run_id="r1", writer="w", seq=s, ops=[points("x", [s - 1], [float(s)], at=1.0)])
        for s in range(1, count + 1)
    ]
    writer = jnl.JournalWriter(path)
    for batch in batches:
        writer.append(batch, sync=False)
    writer.close()
    return path, BacklogStore(open_store(store_uri))


def test_sync_delivers_a_journal_several_batches_a_request_once_each(
    store_uri: str, tmp_path: Path
) -> None:
    path, twin = _dead_writer(tmp_path, store_uri, 30)
    report = sync(path, cast(Store, twin))
    assert report.batches == 31 and report.duplicates == 0 and report.rejected == 0
    assert len(twin.requests) < 31 and max(len(r) for r in twin.requests) > 1
    assert [s for r in twin.requests for s in r][:31] == list(range(31))
    assert report.crashed == ["r1"]  # its writer is gone and it never said it ended
    assert twin.inner.runs.history("r1", ["x"])["x"].steps.tolist() == list(range(30))
    assert not path.exists()  # delivered in full and removed


def test_sync_sets_aside_only_the_refused_batch_of_a_request(
    store_uri: str, tmp_path: Path
) -> None:
    path, twin = _dead_writer(tmp_path, store_uri, 10)
    twin.refuse_seq = 4
    report = sync(path, cast(Store, twin))
    assert report.batches == 10 and report.rejected == 1 and report.duplicates == 0
    rejected = list(path.parent.glob("*.rejected"))
    assert [b.seq for b in jnl.read_journal(rejected[0])] == [4]
    steps = twin.inner.runs.history("r1", ["x"])["x"].steps.tolist()
    assert steps == [s for s in range(10) if s != 3]


def test_sync_stopped_by_an_outage_resumes_after_the_last_delivered_request(
    store_uri: str, tmp_path: Path
) -> None:
    path, twin = _dead_writer(tmp_path, store_uri, 10)
    twin.down.set()
    first = sync(path, cast(Store, twin))
    assert path in first.failed and first.batches == 0 and path.exists()
    twin.down.clear()
    second = sync(path, cast(Store, twin))
    assert second.batches == 11 and second.duplicates == 0
    assert twin.inner.runs.get("r1").metrics["x"].count == 10


# ---- how a backlog is cut into requests ------------------------------------------------------


def _batch(seq: int, steps: int = 100, run_id: str = "r") -> Batch:
    ops = [points("x", list(range(steps)), [1.0] * steps)]
    return Batch(run_id=run_id, writer="w", seq=seq, ops=ops)


def _never(batch: Batch) -> bool:
    return False


def test_requests_keep_the_order_and_hold_consecutive_batches() -> None:
    batches = [_batch(seq) for seq in range(10)]
    cut = list(backlog.requests(batches, alone=_never))
    assert cut == [batches]


def test_requests_stay_within_the_byte_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = [_batch(seq) for seq in range(10)]
    each = backlog.wire_size(batches[0])
    monkeypatch.setattr(backlog, "REQUEST_BYTES", 3 * each)
    cut = list(backlog.requests(batches, alone=_never))
    assert [b.seq for group in cut for b in group] == list(range(10))
    assert [len(group) for group in cut] == [3, 3, 3, 1]
    assert all(sum(backlog.wire_size(b) for b in group) <= 3 * each for group in cut)


def test_requests_stay_within_the_point_and_batch_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backlog, "REQUEST_POINTS", 250)
    cut = list(backlog.requests([_batch(seq) for seq in range(5)], alone=_never))
    assert [len(group) for group in cut] == [2, 2, 1]
    monkeypatch.setattr(backlog, "REQUEST_BATCHES", 4)
    monkeypatch.setattr(backlog, "REQUEST_POINTS", 1_000_000)
    cut = list(backlog.requests([_batch(seq) for seq in range(9)], alone=_never))
    assert [len(group) for group in cut] == [4, 4, 1]


def test_a_batch_over_a_bound_by_itself_goes_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backlog, "REQUEST_POINTS", 150)
    batches = [_batch(0), _batch(1, steps=1000), _batch(2), _batch(3)]
    cut = list(backlog.requests(batches, alone=_never))
    assert [[b.seq for b in group] for group in cut] == [[0], [1], [2], [3]]


def test_a_batch_carrying_blobs_or_a_tracers_goes_alone() -> None:
    blobs = Batch(run_id="r", writer="w", seq=2, ops=[BlobData(blobs={"d": b"x"})])
    spans = Batch(run_id=writer_mod.TRACER + "p", writer="w", seq=5, ops=[Heartbeat(at=1.0)])
    batches = [_batch(0), _batch(1), blobs, _batch(3), _batch(4), spans, _batch(6)]
    cut = list(backlog.requests(batches, alone=writer_mod.goes_alone))
    assert [[b.seq for b in group] for group in cut] == [[0, 1], [2], [3, 4], [5], [6]]


def test_a_requests_size_is_counted_close_to_its_encoding() -> None:
    from assay import wire

    batches = [_batch(seq) for seq in range(20)]
    encoded = len(wire.encode(wire.IngestRequest(batches), wire.MSGPACK))
    counted = sum(backlog.wire_size(b) for b in batches)
    assert encoded <= counted <= 2 * encoded
