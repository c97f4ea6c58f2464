"""The request log from Python: ``assay.monitoring.log`` for batch inference, late labels
through ``assay.models.log_labels``, and ``assay.Api().requests`` as a DataFrame; the
writer's journal behaviour (outage, idempotent redelivery, the drop limit)."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import assay
from assay.errors import InvalidInput, StoreUnavailable
from assay.packed import pack
from assay.records import RequestBatch, RequestEntry
from assay.sdk import journal as jnl
from assay.sdk.requestlog import RequestLog
from assay.sdk.requests import close_all
from assay.store.base import Store, open_store
from assay.store.sql.schema import request_log
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, log_model

FIXED = ["request_id", "time", "model", "version", "arm", "status", "latency_ms"]


@pytest.fixture
def uri(tmp_path: Path) -> Iterator[str]:
    root = str(tmp_path / "store")
    store = open_store(root)
    store.models.register(log_model(store, tmp_path, b"v1").id, "churn")
    store.models.register(log_model(store, tmp_path, b"v2").id, "churn")
    store.models.set_alias("churn", "production", 2)
    store.close()
    yield root
    close_all()


def test_batch_inference_logged_reads_back_as_the_documented_frame(uri: str) -> None:
    inputs = pd.DataFrame({"age": [31, 45, 52], "plan": ["a", "b", "a"]})
    ids = assay.monitoring.log(
        "models:/churn@production",
        inputs,
        np.array([0.1, 0.8, 0.4]),
        ids=["r1", "r2", "r3"],
        uri=uri,
    )
    assert ids == ["r1", "r2", "r3"]
    assert assay.monitoring.flush_requests()
    with assay.Api(uri) as api:
        df = api.requests("churn")
    assert list(df.columns) == [
        *FIXED,
        "input.age",
        "input.plan",
        "output.output",
        "label",
        "labelled_at",
    ]
    assert list(df["request_id"]) == ["r1", "r2", "r3"]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert set(df["version"]) == {"2"} and set(df["model"]) == {"churn"}
    assert list(df["status"]) == [200] * 3 and df["status"].dtype == np.int64
    assert df["latency_ms"].dtype == np.float64
    assert list(df["input.age"]) == [31, 45, 52] and list(df["input.plan"]) == ["a", "b", "a"]
    assert list(df["output.output"]) == [0.1, 0.8, 0.4]
    assert df["label"].isna().all() and df["labelled_at"].isna().all()
    assert df["arm"].isna().all()


def test_labels_arriving_later_join_by_request_id(uri: str) -> None:
    ids = assay.monitoring.log("churn", {"x": [1.0, 2.0]}, {"p": [0, 1]}, version=1, uri=uri)
    assay.monitoring.flush_requests()
    with pytest.warns(assay.models.UnknownRequestIds, match="nope"):
        result = assay.models.log_labels("churn", [ids[1], "nope"], [1, 0], uri=uri)
    assert (result.matched, result.unknown) == (1, ["nope"])
    with assay.Api(uri) as api:
        df = api.requests("churn", version=1)
    assert df.set_index("request_id").loc[ids[1], "label"] == 1
    assert pd.isna(df.set_index("request_id").loc[ids[0], "label"])
    assert str(df["labelled_at"].dtype) == "datetime64[ns, UTC]"
    assert df["labelled_at"].notna().sum() == 1


def test_reads_take_times_as_datetimes_and_keep_the_newest(uri: str) -> None:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for hour in range(5):
        at = (start + pd.Timedelta(hours=hour)).to_pydatetime()
        assay.monitoring.log("churn", [[hour, 1]], [hour], version="2", time=at, uri=uri)
    assay.monitoring.flush_requests()
    with assay.Api(uri) as api:
        window = api.requests(
            "churn", since=start + pd.Timedelta(hours=1), until=start + pd.Timedelta(hours=3)
        )
        newest = api.requests("churn", limit=2)
    assert list(window["output.output"]) == [1, 2]
    with assay.Api(uri) as api:
        text = api.requests("churn", since="2026-01-01T01:00", until="2026-01-01T03:00")
    assert list(text["request_id"]) == list(window["request_id"])
    assert list(window["input.input"]) == [[1, 1], [2, 1]]  # a 2-D array: a list per row
    assert list(newest["output.output"]) == [3, 4]  # the newest two, oldest first


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda u: assay.monitoring.log("churn", [1, 2], [1], version=1, uri=u), "2 rows"),
        (lambda u: assay.monitoring.log("churn", [1], [1], uri=u), "give version="),
        (
            lambda u: assay.monitoring.log("churn", [1, 2], [1, 2], ["a", "a"], version=1, uri=u),
            "unique",
        ),
        (
            lambda u: assay.monitoring.log("churn", {"a": [1], "b": [1, 2]}, [1], version=1, uri=u),
            "equal length",
        ),
        (lambda u: assay.monitoring.log("models:/nope@production", [1], [1], uri=u), "nope"),
    ],
)
def test_bad_calls_are_refused_naming_what_is_wrong(uri: str, call: object, message: str) -> None:
    with pytest.raises((InvalidInput, assay.errors.NotFound), match=message):
        call(uri)  # type: ignore[operator]


class FlakyStore:
    """A store whose ``requests`` facet is down until told otherwise (an outage)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = True
        self.calls = 0
        self.sizes: list[int] = []  # entries per batch delivered

    @property
    def requests(self) -> FlakyStore:
        return self

    def write_batch(self, batch: RequestBatch, actor: str | None = None) -> bool:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("the store is down")
        self.sizes.append(len(batch.entries))
        return self.inner.requests.write_batch(batch)

    def close(self) -> None:
        pass


def entries(n: int, start: int = 0) -> list[RequestEntry]:
    now = pd.Timestamp.now(tz="UTC").timestamp()
    return [
        RequestEntry(model="churn", request_id=f"r{i}", time=now, version="1", outputs={"y": i})
        for i in range(start, start + n)
    ]


def test_an_outage_keeps_entries_in_the_journal_until_the_store_is_back(
    uri: str, tmp_path: Path
) -> None:
    store = open_store(uri)
    flaky = FlakyStore(store)
    writer = RequestLog(uri, folder=tmp_path / "j", interval=0.01, connect=lambda: flaky).start()
    batch = entries(50)
    assert writer.submit(50, lambda: batch)
    assert writer.flush(timeout=0.5) is False  # down: nothing delivered
    assert flaky.calls >= 1 and store.requests.list("churn") == []
    assert [len(b.entries) for b in jnl.read_journal(writer.journal.path, kind=RequestBatch)] == [
        50
    ]
    flaky.down = False
    assert writer.close(timeout=60) is True
    stored = {e.request_id for e in store.requests.list("churn")}
    assert stored == {f"r{i}" for i in range(50)}
    assert not writer.journal.path.exists()  # delivered: the journal is removed
    store.close()


def _journaled(writer: RequestLog) -> list[str]:
    """The request ids in the writer's journal, in order."""
    batches = jnl.read_journal(writer.journal.path, kind=RequestBatch)
    return [e.request_id for b in batches for e in b.entries]


def test_batches_the_store_takes_at_once_are_never_written_to_the_journal(
    uri: str, tmp_path: Path
) -> None:
    store, recorder, writer = _recording_writer(uri, tmp_path)
    writer.start()
    writer.submit(20, lambda: entries(20))
    assert writer.flush(timeout=60) is True
    writer.submit(5, lambda: entries(5, start=20))  # submitted just before a clean stop
    journal = writer.journal.path
    assert journal.stat().st_size == 0 and not jnl.acked_path(journal).exists()
    assert writer.close(timeout=60) is True
    assert not journal.exists() and sum(recorder.sizes) == 25
    assert {e.request_id for e in store.requests.list("churn")} == {f"r{i}" for i in range(25)}
    store.close()


def test_only_what_an_outage_held_back_is_journaled_and_all_of_it_is_delivered_after(
    uri: str, tmp_path: Path
) -> None:
    store, flaky, writer = _recording_writer(uri, tmp_path)
    writer.interval = 0.01
    writer.start()
    writer.submit(3, lambda: entries(3))
    assert writer.flush(timeout=60) is True
    flaky.down = True
    writer.submit(4, lambda: entries(4, start=3))
    assert writer.flush(timeout=0.5) is False
    writer.submit(2, lambda: entries(2, start=7))
    assert writer.flush(timeout=0.5) is False
    # in the journal, once each, in order: only the entries the store did not take
    assert _journaled(writer) == [f"r{i}" for i in range(3, 9)]
    flaky.down = False
    writer.submit(1, lambda: entries(1, start=9))
    assert writer.close(timeout=60) is True
    assert sorted(e.request_id for e in store.requests.list("churn")) == sorted(
        f"r{i}" for i in range(10)
    )
    assert not writer.journal.path.exists()
    store.close()


SPOOLING_CHILD = textwrap.dedent(
    """
    import sys, time
    from assay.errors import StoreUnavailable
    from assay.records import RequestEntry
    from assay.sdk.requestlog import RequestLog

    def down():
        raise StoreUnavailable("the store is down")

    writer = RequestLog(sys.argv[1], folder=__import__("pathlib").Path(sys.argv[2]),
                        interval=0.01, connect=down).start()
    batch = [RequestEntry(model="churn", request_id=f"r{i}", time=time.time(), version="1",
                          outputs={"y": i}) for i in range(7)]
    writer.submit(7, lambda: batch)
    assert writer.flush(timeout=0.5) is False
    print("spooled", flush=True)
    time.sleep(600)
    """
)


def test_what_an_outage_spooled_survives_a_killed_server_and_the_next_delivers_it(
    uri: str, tmp_path: Path
) -> None:
    folder = tmp_path / "j"
    command = [sys.executable, "-c", SPOOLING_CHILD, uri, str(folder)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "spooled"
        finally:
            child.send_signal(signal.SIGKILL)  # no clean stop: what it spooled is all there is
            child.wait()
    (left,) = folder.glob("*.rlog")
    store = open_store(uri)
    after = RequestLog(uri, folder=folder, interval=0.01, connect=lambda: store).start()
    assert after.close(timeout=60) is True
    assert sorted(e.request_id for e in store.requests.list("churn")) == [f"r{i}" for i in range(7)]
    assert not left.exists()
    store.close()


def test_a_journal_left_by_a_stopped_writer_is_delivered_once_by_the_next(
    uri: str, tmp_path: Path
) -> None:
    store = open_store(uri)
    flaky = FlakyStore(store)
    first = RequestLog(uri, folder=tmp_path / "j", interval=0.01, connect=lambda: flaky).start()
    first.submit(10, lambda: entries(10))
    assert first.close(timeout=0.2) is False  # the store is down at shutdown
    left = first.journal.path
    assert left.exists()
    flaky.down = False
    # replaying a batch the store already took is harmless: (writer, seq) is claimed once
    store.requests.write_batch(next(jnl.read_journal(left, kind=RequestBatch)))
    second = RequestLog(uri, folder=tmp_path / "j", interval=0.01, connect=lambda: store).start()
    second.submit(1, lambda: entries(1, start=10))
    assert second.close(timeout=60) is True
    assert len(store.requests.list("churn")) == 11
    assert not left.exists()
    store.close()


def test_past_the_limit_entries_are_dropped_counted_and_logged(
    uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dropped: list[int] = []
    writer = RequestLog(uri, folder=tmp_path / "j", max_queued=5, on_drop=dropped.append)
    with caplog.at_level(logging.ERROR, logger="assay"):
        assert writer.submit(3, lambda: entries(3))
        assert not writer.submit(3, lambda: entries(3, start=3))
        assert writer.submit(1, lambda: entries(1, start=6))  # room again for one
    assert writer.dropped == 3 and dropped == [3]
    assert "dropped and counted" in caplog.text
    assert writer.close(timeout=60) is True
    with assay.Api(uri) as api:
        assert sorted(api.requests("churn")["request_id"]) == ["r0", "r1", "r2", "r6"]


def _recording_writer(uri: str, tmp_path: Path) -> tuple[Any, FlakyStore, RequestLog]:
    """A request log whose store is up and records the size of every batch it takes."""
    store = open_store(uri)
    recorder = FlakyStore(store)
    recorder.down = False
    return store, recorder, RequestLog(uri, folder=tmp_path / "j", connect=lambda: recorder)


def test_large_entries_are_split_into_batches_a_server_accepts_and_bad_ones_dropped(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from assay.sdk import requestlog

    monkeypatch.setattr(requestlog, "MAX_BATCH_BYTES", 10_000)
    store, recorder, writer = _recording_writer(uri, tmp_path)
    big = [msgspec.structs.replace(e, inputs={"blob": "x" * 3_000}) for e in entries(10)]
    bad = msgspec.structs.replace(entries(1, start=10)[0], inputs={"x": object()})
    writer.submit(11, lambda: [*big, bad])
    with caplog.at_level(logging.ERROR, logger="assay"):
        assert writer.close(timeout=60) is True
    assert sum(recorder.sizes) == 10 and max(recorder.sizes) <= 3  # 3 x 3 kB per 10 kB
    assert writer.dropped == 1 and "'r10'" in caplog.text
    assert len(store.requests.list("churn")) == 10
    store.close()


def test_batches_are_cut_by_the_bytes_their_submitters_counted(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.sdk import requestlog

    monkeypatch.setattr(requestlog, "BATCH_ARRAY_BYTES", 5_000)
    store, recorder, writer = _recording_writer(uri, tmp_path)
    for k in range(6):  # 2 kB each: two fit under 5 kB, the third starts a new batch
        writer.submit(2, lambda k=k: entries(2, start=2 * k), nbytes=2_000)
    assert writer.close(timeout=60) is True
    assert recorder.sizes == [4, 4, 4]
    assert len(store.requests.list("churn")) == 12
    store.close()


def test_a_damaged_request_log_record_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "w.rlog"
    journal = jnl.JournalWriter(path)
    for seq in range(3):
        journal.append(RequestBatch(writer="w", seq=seq, entries=entries(2, start=2 * seq)))
    journal.close()
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the first record's payload: its checksum fails
    path.write_bytes(bytes(data))
    with pytest.warns(jnl.JournalWarning):
        seqs = [b.seq for b in jnl.read_journal(path, kind=RequestBatch)]
    assert seqs == [1, 2]


def test_monitoring_log_is_the_sdk_call_handed_over_by_the_assay_package() -> None:
    from assay.monitoring import flush_requests, log
    from assay.sdk import requests

    assert log is requests.log and flush_requests is requests.flush_requests
    with pytest.raises(AttributeError, match="nothing"):
        assay.monitoring.nothing  # noqa: B018


def test_over_http_the_request_log_is_authorised_by_the_models_project(tmp_path: Path) -> None:
    from assay.errors import Forbidden
    from tests.test_server import Team
    from tests.test_server_security import _alpha_artifact

    team = Team(tmp_path / "server")
    try:
        _, version_id, _ = _alpha_artifact(team, tmp_path)
        team.store("ann").models.register(version_id, "churn")  # a model of project alpha
        batch = RequestBatch(writer="w", seq=0, entries=entries(2))
        for outsider in ("vic", "bob"):  # alpha's viewer; beta's writer
            with pytest.raises(Forbidden):
                team.store(outsider).requests.write_batch(batch)
        assert team.store("ann").requests.write_batch(batch) is True
        with pytest.raises(Forbidden):
            team.store("vic").requests.label("churn", ["r0"], [1])
        with pytest.raises(Forbidden):
            team.store("bob").requests.list("churn")
        assert team.store("ann").requests.label("churn", ["r0"], [1]).matched == 1
        labels = [[lab.label for lab in r.labels] for r in team.store("vic").requests.list("churn")]
        assert labels in ([[1], []], [[], [1]])
        raw = team.client.post(
            "/api/v1/models/churn/labels",
            json={"ids": ["r1", "nope"], "labels": [0, 1]},
            headers=team.headers("ann"),
        )
        assert raw.status_code == 200 and raw.json() == {"matched": 1, "unknown": ["nope"]}
    finally:
        team.client.close()


def test_a_table_larger_than_the_writers_queue_is_logged_whole(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.sdk import requestlog, requests

    monkeypatch.setattr(requestlog, "MAX_QUEUED_ENTRIES", 1_000)
    monkeypatch.setattr(requests, "CHUNK_ROWS", 300)
    n = 5_000
    ids = assay.monitoring.log("churn", {"x": np.arange(n)}, np.zeros(n), version=1, uri=uri)
    assert assay.monitoring.flush_requests()
    assert requests.request_log(uri).dropped == 0
    with assay.Api(uri) as api:
        df = api.requests("churn")
    assert sorted(df["request_id"]) == sorted(ids) and sorted(df["input.x"]) == list(range(n))


def test_the_queue_is_bounded_in_bytes_too(uri: str, tmp_path: Path) -> None:
    from assay.sdk import requestlog

    writer = RequestLog(uri, folder=tmp_path / "j")
    big = requestlog.MAX_QUEUED_BYTES // 2 + 1
    assert writer.submit(1, lambda: entries(1), nbytes=big)
    assert not writer.submit(1, lambda: entries(1, start=1), nbytes=big)  # past the bytes
    assert writer.submit(1, lambda: entries(1, start=2), nbytes=10)
    assert writer.dropped == 1
    assert writer.close(timeout=60) is True
    with assay.Api(uri) as api:
        assert sorted(api.requests("churn")["request_id"]) == ["r0", "r2"]


def test_limit_keeps_the_newest_rows_of_requests_of_several_rows(uri: str) -> None:
    now = 1_700_000_000.0
    three = {"x": [1.0, 2.0, 3.0]}
    batch = RequestBatch(
        writer="w",
        seq=0,
        entries=[
            RequestEntry(
                model="churn", request_id="a", time=now, version="1", rows=3, inputs=three
            ),
            RequestEntry(model="churn", request_id="b", time=now + 1, version="1", rows=1),
        ],
    )
    store = open_store(uri)
    try:
        store.requests.write_batch(batch)
    finally:
        store.close()
    with assay.Api(uri) as api:
        assert list(api.requests("churn")["request_id"]) == ["a/0", "a/1", "a/2", "b"]
        assert list(api.requests("churn", limit=2)["request_id"]) == ["a/2", "b"]
        assert api.requests("churn", limit=2)["input.x"].iloc[0] == 3.0
        assert list(api.requests("churn", limit=1)["request_id"]) == ["b"]


def test_entries_stored_before_columns_were_packed_read_back_as_they_were(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    now = 1_700_000_000.0
    when = ["2026-12-02T08:00:00.000000000", "NaT"]
    before = {  # a row as earlier versions wrote it: msgpack maps of lists
        "model": "churn",
        "request_id": "old",
        "time": now,
        "version": "1",
        "arm": None,
        "status": 200,
        "latency_ms": 2.5,
        "row_count": 2,
        "inputs": msgspec.msgpack.encode(
            {"x": [1.5, math.nan], "n": [7, -1], "when": when, "city": ["Oslo", None]}
        ),
        "outputs": msgspec.msgpack.encode({"p": [0.25, 0.75]}),
    }
    with store.engine.begin() as conn:
        conn.execute(sa.insert(request_log), before)
    served = {
        "x": pack(np.array([1.5, np.nan])),
        "n": pack(np.array([7, -1])),
        "when": pack(np.array(when, dtype="M8[ns]")),
        "city": ["Oslo", None],
    }
    new = RequestEntry(
        model="churn",
        request_id="new",
        time=now + 1,
        version="1",
        latency_ms=2.5,
        rows=2,
        inputs=served,
        outputs={"p": pack(np.array([0.25, 0.75]))},
    )
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=[new]))
    old, packed = store.requests.list("churn")
    assert old.request_id == "old" and old.rows == 2
    assert msgspec.msgpack.encode(old.inputs) == before["inputs"]
    assert msgspec.msgpack.encode(old.outputs) == before["outputs"]
    same = msgspec.msgpack.encode([packed.inputs, packed.outputs])
    assert same == msgspec.msgpack.encode([old.inputs, old.outputs])  # NaN included
    with assay.Api(store=store) as api:
        df = api.requests("churn")
    rows = df.drop(columns=["request_id", "time"])
    pd.testing.assert_frame_equal(
        rows.iloc[:2].reset_index(drop=True), rows.iloc[2:].reset_index(drop=True)
    )
    assert list(df["input.when"]) == when * 2 and list(df["input.n"]) == [7, -1] * 2
    assert list(df["input.city"].isna()) == [False, True] * 2
