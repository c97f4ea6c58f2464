"""The contract of ``store.requests`` (the request log of served models): every backend
must pass all of these."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from msgspec.msgpack import Ext

from assay.errors import InvalidInput, NotFound
from assay.packed import pack
from assay.records import RequestBatch, RequestEntry
from assay.store import Store
from tests.conftest import log_model


def registered(store: Store, tmp_path: Path, name: str = "clf") -> str:
    store.models.register(log_model(store, tmp_path, name.encode()).id, name)
    return name


def entry(rid: str, at: float, **changes: Any) -> RequestEntry:
    fields: dict[str, Any] = {
        "model": "clf",
        "request_id": rid,
        "time": at,
        "version": "1",
        "arm": None,
        "status": 200,
        "latency_ms": 1.5,
        "rows": 1,
        "inputs": {"x": [1.0], "tags": [["a", "b"]]},
        "outputs": {"y": [0]},
        **changes,
    }
    return RequestEntry(**fields)


def rows(rid: str, at: float, n: int, **changes: Any) -> RequestEntry:
    """A request of ``n`` rows."""
    columns = {"x": [float(i) for i in range(n)], "tags": [[str(i)] for i in range(n)]}
    return entry(rid, at, rows=n, inputs=columns, outputs={"y": list(range(n))}, **changes)


def test_entries_read_back_oldest_first_with_their_fields(store: Store, tmp_path: Path) -> None:
    registered(store, tmp_path)
    now = time.time()
    entries = [
        entry("b", now - 5, version="2", arm="candidate", status=400, outputs={}),
        entry("a", now - 10, inputs={"x": [math.nan], "tags": [[]]}),
        entry("c", now - 1, latency_ms=9.25),
        entry("d", now, rows=0, inputs={}, outputs={}, status=503),
    ]
    assert store.requests.write_batch(RequestBatch(writer="w1", seq=0, entries=entries))
    found = store.requests.list("clf")
    assert [f.request_id for f in found] == ["a", "b", "c", "d"]
    b = found[1]
    assert (b.version, b.arm, b.status, b.outputs, b.labels) == ("2", "candidate", 400, {}, [])
    assert found[0].inputs["tags"] == [[]] and math.isnan(found[0].inputs["x"][0])
    assert found[2].latency_ms == 9.25 and found[2].inputs == {"x": [1.0], "tags": [["a", "b"]]}
    assert [f.rows for f in found] == [1, 1, 1, 0] and found[3].inputs == {}


def test_a_request_of_many_rows_is_one_entry_holding_them_as_columns(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    now = time.time()
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=[rows("big", now, 100)]))
    (found,) = store.requests.list("clf")
    assert (found.request_id, found.rows) == ("big", 100)
    assert found.inputs["x"] == [float(i) for i in range(100)]
    assert found.inputs["tags"][99] == ["99"] and found.outputs == {"y": list(range(100))}


def test_an_entry_of_the_earlier_one_row_form_is_stored_as_one_row(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    now = time.time()
    old = [
        entry("r/0", now, rows=None, inputs={"x": 2.0, "tags": ["a"]}, outputs={"y": 1}),
        entry("refused", now, rows=None, inputs={}, outputs={}, status=400),
    ]
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=old))
    first, refused = store.requests.list("clf")
    assert (first.request_id, first.rows, first.inputs) == ("r/0", 1, {"x": [2.0], "tags": [["a"]]})
    assert first.outputs == {"y": [1]} and (refused.rows, refused.inputs) == (0, {})


def packed(array: Any) -> Ext:
    column = pack(np.asarray(array))
    assert column is not None
    return column


def test_packed_columns_read_back_as_the_lists_of_their_values(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    when = np.array(["2026-12-02T08:00:00", "NaT", "2026-12-02T08:00:01.5"], dtype="M8[ns]")
    inputs = {
        "x": packed([1.5, math.nan, -2.0]),
        "n": packed(np.array([1, 2**40, -3])),
        "flag": packed([True, False, True]),
        "when": packed(when),
        "pixels": packed(np.arange(6, dtype=np.uint8).reshape(3, 2)),
        "tags": [["a"], [], None],  # a column that does not pack stays a list
    }
    outputs = {"y": packed(np.array([0.25, 0.5, 0.75], dtype=np.float32))}
    given = entry("p", time.time(), rows=3, inputs=inputs, outputs=outputs)
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=[given]))
    (found,) = store.requests.list("clf")
    assert found.rows == 3 and list(found.inputs) == ["x", "n", "flag", "when", "pixels", "tags"]
    x = found.inputs["x"]
    assert x[0] == 1.5 and math.isnan(x[1]) and x[2] == -2.0
    assert found.inputs["n"] == [1, 2**40, -3] and found.inputs["flag"] == [True, False, True]
    assert found.inputs["when"] == when.astype(str).tolist()
    assert found.inputs["when"][1] == "NaT"
    assert found.inputs["pixels"] == [[0, 1], [2, 3], [4, 5]]
    assert found.inputs["tags"] == [["a"], [], None]
    assert found.outputs == {"y": [0.25, 0.5, 0.75]}


@pytest.mark.parametrize(
    "changes",
    [
        {"rows": 2},  # columns of one value
        {"rows": -1},
        {"inputs": {"x": 1.0}},  # not a list
        {"outputs": {"y": [1, 2]}},
        {"inputs": {"x": packed([1.0, 2.0])}},  # packed, of two rows
        {"inputs": {"x": Ext(1, b"\x03<f8" + bytes(12))}},  # packed, damaged
        {"inputs": {"x": Ext(7, bytes(8))}},  # another extension value
        {"rows": None, "inputs": {"x": packed([1.0])}},  # packed in the one-row form
    ],
)
def test_columns_must_hold_one_value_per_row(
    store: Store, tmp_path: Path, changes: dict[str, Any]
) -> None:
    registered(store, tmp_path)
    bad = RequestBatch(writer="w", seq=0, entries=[entry("bad", time.time(), **changes)])
    with pytest.raises(InvalidInput, match=r"rows|one per row"):
        store.requests.write_batch(bad)
    assert store.requests.list("clf") == []


def test_a_batch_delivered_twice_is_applied_once(store: Store, tmp_path: Path) -> None:
    registered(store, tmp_path)
    now = time.time()
    batch = RequestBatch(writer="w1", seq=0, entries=[entry("a", now), entry("b", now)])
    assert store.requests.write_batch(batch) is True
    assert store.requests.write_batch(batch) is False
    later = RequestBatch(writer="w1", seq=1, entries=[entry("a", now, outputs={"y": [5]})])
    assert store.requests.write_batch(later) is True  # a new batch, but a known id
    found = store.requests.list("clf")
    assert [(f.request_id, f.outputs) for f in found] == [("a", {"y": [0]}), ("b", {"y": [0]})]


def test_reads_filter_by_version_arm_and_time_and_keep_the_newest(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    base = time.time() - 100
    entries = [
        entry(f"r{i}", base + i, version=str(1 + i % 2), arm="a" if i < 5 else "b")
        for i in range(10)
    ]
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=entries))
    ids = lambda found: [f.request_id for f in found]  # noqa: E731
    assert ids(store.requests.list("clf", version="2")) == ["r1", "r3", "r5", "r7", "r9"]
    assert ids(store.requests.list("clf", arm="b", version="1")) == ["r6", "r8"]
    assert ids(store.requests.list("clf", since=base + 3, until=base + 6)) == ["r3", "r4", "r5"]
    assert ids(store.requests.list("clf", limit=3)) == ["r7", "r8", "r9"]
    assert store.requests.list("clf", since=base + 50) == []


def test_labels_join_by_request_id_and_unknown_ids_are_returned(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    now = time.time()
    batch = RequestBatch(writer="w", seq=0, entries=[entry("a", now), entry("b", now)])
    store.requests.write_batch(batch)
    result = store.requests.label("clf", ["a", "zz", "b"], [1, 0, {"class": "cat"}])
    assert (result.matched, result.unknown) == (2, ["zz"])
    found = {f.request_id: f for f in store.requests.list("clf")}
    assert [(lab.row, lab.label) for lab in found["a"].labels] == [(-1, 1)]
    assert found["b"].labels[0].label == {"class": "cat"}
    assert found["a"].labels[0].at >= now - 60
    again = store.requests.label("clf", ["a"], [0])  # a later label replaces the first
    assert again.matched == 1 and store.requests.list("clf")[0].labels[0].label == 0


def test_labels_join_a_row_of_a_request_as_id_slash_row_or_the_whole_request(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    now = time.time()
    batch = RequestBatch(writer="w", seq=0, entries=[rows("r", now, 3), entry("one", now)])
    store.requests.write_batch(batch)
    ids = ["r/2", "r/0", "r", "r/3", "r/01", "one/0", "one", "r/2"]
    result = store.requests.label("clf", ids, [1, 0, "all", 9, 9, 9, "x", 2])
    assert (result.matched, result.unknown) == (4, ["r/3", "r/01", "one/0"])
    found = {f.request_id: f for f in store.requests.list("clf")}
    assert [(lab.row, lab.label) for lab in found["r"].labels] == [(-1, "all"), (0, 0), (2, 2)]
    assert [(lab.row, lab.label) for lab in found["one"].labels] == [(-1, "x")]


def test_entries_of_another_model_stay_apart(store: Store, tmp_path: Path) -> None:
    registered(store, tmp_path, "clf")
    registered(store, tmp_path, "other")
    now = time.time()
    entries = [entry("same", now), entry("same", now, model="other", outputs={"y": [7]})]
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=entries))
    assert store.requests.list("other")[0].outputs == {"y": [7]}
    assert store.requests.list("clf")[0].outputs == {"y": [0]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": 42}, "status 42"),
        ({"latency_ms": -1.0}, "latency_ms"),
        ({"latency_ms": math.inf}, "latency_ms"),
        ({"time": math.nan}, "not a possible time"),
        ({"time": time.time() + 10 * 86_400}, "not a possible time"),
        ({"request_id": ""}, "request id"),
        ({"request_id": "x" * 300}, "request id"),
        ({"version": "a\x00b"}, "version"),
    ],
)
def test_bad_entries_are_refused_and_nothing_of_the_batch_is_stored(
    store: Store, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    registered(store, tmp_path)
    now = time.time()
    bad_one = entry("bad", now, **changes)
    bad = RequestBatch(writer="w", seq=0, entries=[entry("good", now), bad_one])
    with pytest.raises(InvalidInput, match=message):
        store.requests.write_batch(bad)
    assert store.requests.list("clf") == []
    good = msgspec.structs.replace(bad, entries=bad.entries[:1])
    assert store.requests.write_batch(good) is True  # the refused batch claimed nothing


def test_labels_need_one_label_per_id(store: Store, tmp_path: Path) -> None:
    registered(store, tmp_path)
    with pytest.raises(InvalidInput, match="one label per id"):
        store.requests.label("clf", ["a", "b"], [1])


def test_a_model_without_a_log_reads_empty_and_bad_reads_are_refused(
    store: Store, tmp_path: Path
) -> None:
    registered(store, tmp_path)
    assert store.requests.list("clf") == []
    with pytest.raises(InvalidInput):
        store.requests.list("clf", limit=-1)


def test_remote_reads_of_an_unregistered_model_are_not_found(
    store_factory: Any, tmp_path: Path
) -> None:
    store = store_factory()
    if type(store).__name__ != "RemoteStore":
        assert store.requests.list("nobody") == []
        return
    with pytest.raises(NotFound):
        store.requests.list("nobody")
