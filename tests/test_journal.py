"""The journal: cut anywhere, corrupt at the tail, replayed twice — the store stays right."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.records import Batch
from assay.sdk import journal as jnl
from assay.sdk.sync import sync
from assay.store import open_store
from tests.conftest import create_op, points

RUN = "r1"


def make_batches(sizes: list[int]) -> list[Batch]:
    batches = [
        Batch(
            run_id=RUN,
            writer="w1",
            seq=0,
            ops=[create_op(name="n", created_at=1.0)],
        )
    ]
    step = 0
    for seq, size in enumerate(sizes, start=1):
        steps = list(range(step, step + size))
        batches.append(
            Batch(
                run_id=RUN,
                writer="w1",
                seq=seq,
                ops=[points("x", steps, [float(s) for s in steps], at=1.0)],
            )
        )
        step += size
    return batches


def write_journal(path: Path, batches: list[Batch]) -> bytes:
    writer = jnl.JournalWriter(path)
    for batch in batches:
        writer.append(batch, sync=False)
    writer.close()
    return path.read_bytes()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sizes=st.lists(st.integers(1, 20), min_size=1, max_size=8), cut=st.floats(0, 1))
def test_journal_cut_at_any_byte_replays_a_consistent_prefix(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], cut: float
) -> None:
    root = tmp_path_factory.mktemp("j")
    batches = make_batches(sizes)
    data = write_journal(root / "full.jnl", batches)
    cut_at = int(cut * len(data))
    cut_path = root / RUN / "w1.jnl"
    cut_path.parent.mkdir()
    cut_path.write_bytes(data[:cut_at])
    boundaries = np.cumsum([len(jnl.encode_record(b)) for b in batches])
    complete = int(np.searchsorted(boundaries, cut_at, side="right"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = list(jnl.read_journal(cut_path))
    assert read == batches[:complete]
    assert bool(caught) == (cut_at not in (0, *boundaries.tolist()))

    store = open_store(root / "store")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jnl.JournalWarning)
        sync(root / RUN, store)
    if complete:
        series = store.runs.history(RUN).get("x")
        expected = sum(sizes[: complete - 1])
        assert (0 if series is None else len(series)) == expected
        if series is not None:
            assert list(series.steps) == list(range(expected))
    store.close()


def test_corrupt_tail_is_detected_and_skipped_with_a_warning(tmp_path: Path) -> None:
    batches = make_batches([3, 3, 3])
    path = tmp_path / "j.jnl"
    data = bytearray(write_journal(path, batches))
    data[-2] ^= 0xFF  # flip a bit inside the last record's payload
    path.write_bytes(bytes(data))
    with pytest.warns(jnl.JournalWarning, match="checksum"):
        read = list(jnl.read_journal(path))
    assert read == batches[:-1]


def test_impossible_length_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "j.jnl"
    path.write_bytes(jnl.HEADER.pack(2**31, 0) + b"x" * 10)
    with pytest.warns(jnl.JournalWarning, match="impossibly long"):
        assert list(jnl.read_journal(path)) == []


def test_replay_twice_equals_replay_once(tmp_path: Path) -> None:
    batches = make_batches([5, 5])
    path = tmp_path / RUN / "w1.jnl"
    path.parent.mkdir()
    write_journal(path, batches)
    store = open_store(tmp_path / "store")
    for batch in batches:
        store.runs.write_batch(batch)
    for batch in batches:
        assert store.runs.write_batch(batch) is False
    report = sync(path, store)  # also replays from the start: no acked mark exists
    assert report.batches == 0 and report.duplicates == len(batches)
    assert store.runs.get(RUN).metrics["x"].count == 10
    assert len(store.runs.history(RUN)["x"]) == 10


def test_a_live_journal_cannot_be_opened_twice(tmp_path: Path) -> None:
    path = tmp_path / "j.jnl"
    first = jnl.JournalWriter(path)
    assert jnl.is_locked(path)
    with pytest.raises(jnl.JournalLocked):
        jnl.JournalWriter(path)
    first.close()
    assert not jnl.is_locked(path)


def test_acked_mark_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "j.jnl"
    assert jnl.read_acked(path) == -1
    jnl.write_acked(path, 41)
    assert jnl.read_acked(path) == 41
