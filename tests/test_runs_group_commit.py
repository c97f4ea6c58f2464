"""Batches that concurrent callers deliver to one SQL store (a server's requests) go in
together, in one transaction: each caller answered once its own batches are committed,
and a caller whose batches fail failing alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from assay.errors import NotFound
from assay.ids import new_run_id
from assay.records import Batch
from assay.store.sql import runs as sql_runs
from assay.store.sql.runs import SqlRuns
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, create_run, points


class HeldCommit:
    """Wraps a store's group-commit function: records the deliveries of each transaction
    and holds the first until released, so that the others queue behind it."""

    def __init__(self, runs: SqlRuns) -> None:
        self.inner = runs._commit
        self.groups: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, deliveries: Sequence[Any]) -> list[list[bool]]:
        self.groups.append(len(deliveries))
        if len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(30)
        return self.inner(deliveries)


def deliver_behind_a_commit(
    runs: SqlRuns, first: list[Batch], others: list[list[Batch]]
) -> tuple[HeldCommit, list[object]]:
    """``first`` delivered, then ``others`` from threads while its commit is held; what
    each caller got (its answers or its error), ``first``'s last."""
    held = HeldCommit(runs)
    runs._group._commit = held
    answers: list[object] = [None] * (len(others) + 1)

    def deliver(index: int, batches: list[Batch]) -> None:
        try:
            answers[index] = runs.write_batches(batches, actor="user:test")
        except Exception as exc:
            answers[index] = exc

    lead = threading.Thread(target=deliver, args=(len(others), first))
    lead.start()
    assert held.entered.wait(30)
    threads = [threading.Thread(target=deliver, args=(i, b)) for i, b in enumerate(others)]
    for t in threads:
        t.start()
    while len(runs._group._waiting) < len(others):  # all queued behind the first
        threading.Event().wait(0.01)
    held.release.set()
    for t in [lead, *threads]:
        t.join(30)
    return held, answers


def test_concurrent_deliveries_share_one_commit_and_each_gets_its_own_answers(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    ids = [create_run(store) for _ in range(9)]
    first = [Batch(run_id=ids[0], writer="w", seq=1, ops=[points("x", [0], [1.0])])]
    others = [
        [
            Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", [0], [float(i)])]),
            Batch(run_id=run_id, writer="w", seq=2, ops=[points("x", [1], [float(i)])]),
        ]
        for i, run_id in enumerate(ids[1:])
    ]
    others[3] = [others[3][0], others[3][0], others[3][1]]  # a batch sent twice in a request
    held, answers = deliver_behind_a_commit(store.runs, first, others)
    assert held.groups == [1, 8]  # two transactions for nine callers
    assert answers[:3] == [[True, True]] * 3
    assert answers[3] == [True, False, True]
    assert answers[4:] == [[True, True]] * 4 + [[True]]
    for i, run_id in enumerate(ids[1:]):
        series = store.runs.history(run_id)["x"]
        assert list(series.steps) == [0, 1] and list(series.values) == [float(i)] * 2


def test_a_delivery_that_fails_among_concurrent_ones_fails_alone(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    ids = [create_run(store) for _ in range(5)]
    first = [Batch(run_id=ids[0], writer="w", seq=1, ops=[points("x", [0], [1.0])])]
    others = [
        [Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", [0], [2.0])])]
        for run_id in ids[1:]
    ]
    orphan = Batch(run_id=new_run_id(), writer="w", seq=0, ops=[points("x", [0], [1.0])])
    bad_run = ids[2]
    others[1] = [*others[1], orphan]  # a run the store does not have, after a good batch
    held, answers = deliver_behind_a_commit(store.runs, first, others)
    assert held.groups[:2] == [1, 4]  # they went in together; the failure split them
    assert isinstance(answers[1], NotFound)
    assert [a for i, a in enumerate(answers) if i != 1] == [[True]] * 4
    assert store.runs.history(bad_run) == {}  # its request applied nothing
    for run_id in ids[:2] + ids[3:]:
        assert list(store.runs.history(run_id)["x"].steps) == [0]


@pytest.mark.parametrize("count", [2, 6])
def test_deliveries_of_many_runs_in_one_transaction_keep_each_runs_order(
    sql_store_factory: StoreFactory, count: int
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    ids = sorted((create_run(store) for _ in range(count)), reverse=True)
    first = [Batch(run_id=ids[0], writer="v", seq=1, ops=[points("y", [0], [1.0])])]

    def overwrite(run_id: str, writer: str, key: str, seq: int) -> Batch:
        return Batch(run_id=run_id, writer=writer, seq=seq, ops=[points(key, [0], [float(seq)])])

    # each run's batches overwrite step 0, so the last one applied wins: one request
    # with the runs' batches interleaved, and one request per run
    interleaved = [overwrite(run_id, "w", "x", seq) for seq in (1, 2, 3) for run_id in ids]
    per_run = [[overwrite(run_id, "u", "z", seq) for seq in (1, 2, 3)] for run_id in ids]
    held, answers = deliver_behind_a_commit(store.runs, first, [interleaved, *per_run])
    assert held.groups == [1, 1 + count]
    assert answers[0] == [True] * len(interleaved)
    assert all(a == [True] * 3 for a in answers[1:-1])
    for run_id in ids:
        history = store.runs.history(run_id, ["x", "z"])
        assert list(history["x"].values) == list(history["z"].values) == [3.0]


def test_points_of_many_runs_in_one_transaction_keep_every_summary_true(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    ids = [create_run(store) for _ in range(6)]
    for run_id in ids:  # small chunks, so that the grouped batch merges them
        for step in range(sql_runs.MERGE_AFTER - 1):
            one = Batch(run_id=run_id, writer="w", seq=1 + step, ops=[points("x", [step], [1.0])])
            assert store.runs.write_batch(one)
    seq = sql_runs.MERGE_AFTER
    first = [Batch(run_id=ids[0], writer="w", seq=seq, ops=[points("x", [100], [7.0])])]
    others = [
        [Batch(run_id=ids[1], writer="w", seq=seq, ops=[points("x", [0], [-5.0])])],  # back
        *[
            [Batch(run_id=run_id, writer="w", seq=seq, ops=[points("x", [200], [float(i)])])]
            for i, run_id in enumerate(ids[2:])
        ],
        [Batch(run_id=ids[0], writer="w", seq=seq + 1, ops=[points("y", [0], [3.0])])],
    ]
    held, answers = deliver_behind_a_commit(store.runs, first, others)
    assert held.groups == [1, 6]
    assert all(a == [True] for a in answers)
    for run_id in ids:
        run = store.runs.get(run_id)
        for key, series in store.runs.history(run_id).items():
            summary = run.metrics[key]
            assert summary.count == len(series.steps)
            assert summary.last == series.values[-1]
            assert (summary.min, summary.max) == (min(series.values), max(series.values))
    assert store.runs.history(ids[1])["x"].values[0] == -5.0
    assert store.runs.get(ids[0]).metrics["y"].last == 3.0
