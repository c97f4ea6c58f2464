"""The runs table's page of a filter (store/sql/runs_page.py): found by walking an index
when that finds all of it, by a pass over the runs when not, it is always the page
``list`` gives, in the same order, and its total is ``count`` (or, with ``count_up_to``,
"more than" once that many match). SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest

from assay.records import Batch, UpdateRun
from assay.store import Store
from assay.store.sql import runs_page
from tests.conftest import StoreFactory, create_run, points

RUNS = 120


def summary_of(i: int) -> dict[str, Any] | None:
    """Ties (s takes 7 values), runs without s, a string s, a NaN and no summary at all."""
    if i % 11 == 0:
        return None
    if i % 13 == 0:
        return {"t": i % 3}  # no s
    if i % 17 == 0:
        return {"s": "high", "t": 1}  # a string: sorted with the runs without a number
    return {"s": i % 7, "t": i % 3}


def seed(store: Store) -> list[str]:
    ids = []
    for i in range(RUNS):
        run_id = create_run(store, name=f"run-{i:03d}", config={"k": i % 5}, at=1000.0 + i // 2)
        summary = summary_of(i)
        if summary is not None:
            update = UpdateRun(at=time.time(), summary=summary)
            store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[update]))
        if i % 19 == 0:  # a metric's last value as the summary, NaN for one of them
            value = float("nan") if i == 38 else i / 10
            batch = Batch(run_id=run_id, writer="w", seq=2, ops=[points("s", [0], [value])])
            store.runs.write_batch(batch)
        ids.append(run_id)
    for run_id in ids[5::23]:
        store.runs.delete(run_id)
    return ids


@pytest.fixture
def store(sql_store_factory: StoreFactory) -> Store:
    store = sql_store_factory()
    seed(store)
    return store


ORDERS = [(), ("-created",), ("-summary.s",), ("summary.s",), ("name",), ("-summary.s", "name")]
FILTERS = [
    None,
    "summary.t >= 1",  # two runs in three
    "summary.t == 2 and config.k < 4",
    "summary.s == 3",  # narrow
    "not summary.s > 2",
    "summary.s > 100",  # none
]


@pytest.mark.parametrize("window", [5000, 40, 8])  # 40: a walk cut in a tie; 8: too short
@pytest.mark.parametrize("deleted", [False, True])
def test_a_page_is_what_list_gives_in_every_order_and_filter(
    store: Store, window: int, deleted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_page, "WINDOW", window)
    runs = store.runs
    for filter in FILTERS:
        total = runs.count("p", filter, deleted=deleted)
        for order in ORDERS:
            for limit, offset in ((10, 0), (25, 10), (10, 90), (10, 200)):
                found, page = runs.page(  # type: ignore[attr-defined]
                    "p", filter, order, limit, offset, deleted=deleted
                )
                listed = runs.list("p", filter, order, limit, offset, deleted=deleted)
                where = f"{filter!r} {order} {limit}@{offset}"
                assert [r.id for r in page] == [r.id for r in listed], where
                assert found == total, where


@pytest.mark.parametrize("window", [5000, 8])
def test_a_total_past_count_up_to_says_more_than_and_an_exact_one_below(
    store: Store, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_page, "WINDOW", window)
    runs = store.runs
    broad = "summary.t >= 1"
    assert runs.count("p", broad) > 30
    found, page = runs.page("p", broad, ("-summary.s",), 10, 0, count_up_to=30)  # type: ignore[attr-defined]
    assert found == 31 and len(page) == 10
    narrow = "summary.s == 3"
    exact = runs.count("p", narrow)
    assert 0 < exact <= 30
    assert runs.page("p", narrow, (), 10, 0, count_up_to=30)[0] == exact  # type: ignore[attr-defined]
    # without a filter the count is exact whatever it is: the index on runs counts it
    assert runs.page("p", None, (), 10, 0, count_up_to=30)[0] == runs.count("p")  # type: ignore[attr-defined]


def test_a_broad_filter_s_first_page_is_found_without_a_pass_over_the_runs(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk finds the first page of a filter that keeps most runs, so the pass over
    every run (the count of the filter's sets) never runs for it."""
    runs: Any = store.runs
    passes: list[str] = []
    monkeypatch.setattr(
        type(runs), "_page_by_sets", lambda *a, **k: passes.append("pass") or (0, [])
    )
    found, page = runs.page("p", "summary.t >= 1", ("-summary.s",), 10, 0, count_up_to=30)
    assert passes == [] and found == 31 and len(page) == 10
    runs.page("p", "summary.s == 3", ("-summary.s",), 50, 0)  # fewer than a page: a pass
    assert passes == ["pass"]
