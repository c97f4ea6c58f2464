"""Filters, sorting and the column picker read config values and summaries from
``run_cells``; they answer what the runs' JSON says, for every type a value may have,
and every writer keeps the cells current (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import sqlalchemy as sa

from assay.records import Batch, UpdateRun
from assay.store import Store
from assay.store.sql.schema import run_cells
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, create_run, points

# name -> (config, the user's summary or None, metric "s" or None)
MIXED: dict[str, tuple[dict[str, Any], dict[str, Any] | None, float | None]] = {
    "int": ({"x": 2, "n": {"d": 3}}, {"s": 2}, None),
    "float": ({"x": 0.5, "n": {"d": 0.5}}, None, 0.25),
    "str": ({"x": "b", "n": {"d": "c"}}, {"s": "b"}, 9.0),  # the user's value hides the metric
    "inf": ({"x": "inf"}, {"s": "-inf"}, None),
    "true": ({"x": True}, {"s": True}, None),
    "false": ({"x": False}, {"s": False}, None),
    "null": ({"x": None, "n": None}, {"s": None}, 1.0),  # a null hides the metric too
    "missing": ({"n": {}}, None, math.nan),  # a NaN last value: a cell without a number
    "dotted": ({"x.y": 1, "x": [1, 2]}, None, None),
}


def seed_mixed(store: Store, project: str = "p") -> dict[str, str]:
    """The runs of MIXED, written as a client writes them: the metric first (in its
    own batch), then the user's summary."""
    ids = {}
    for name, (config, summary, metric) in MIXED.items():
        run_id = create_run(store, project=project, config=config, name=name)
        seq = 1
        if metric is not None:
            batch = Batch(run_id=run_id, writer="w", seq=seq, ops=[points("s", [0], [metric])])
            store.runs.write_batch(batch)
            seq += 1
        if summary is not None:
            update = UpdateRun(at=time.time(), summary=summary)
            store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=seq, ops=[update]))
        ids[name] = run_id
    return ids


@pytest.fixture
def sql_store(sql_store_factory: StoreFactory) -> Store:
    return sql_store_factory()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config.x == 2", {"int"}),
        ("config.x > 0.1", {"int", "float", "inf"}),
        ("not config.x > 1", {"float"}),  # the others are not numbers: unknown, negated too
        ("config.x == 'inf'", {"inf"}),
        ("config.x < 'c'", {"str"}),
        ("config.x ~ 'N'", {"inf"}),
        ("config.x == true", {"true"}),
        ("config.x != true", {"false"}),
        ("not config.x == false", {"true"}),
        ("config.x in [2, 'b', true]", {"int", "str", "true"}),
        ("config.x not in [2, 'b']", {"inf"}),  # a number and a string: known for both
        ("config.x is null", {"null", "missing"}),
        ("config.x == none", {"null", "missing"}),
        ("config.n.d >= 0.5", {"int", "float"}),
        ("config.n.d == 'c'", {"str"}),
        ("config.n is not null", {"int", "float", "str", "missing"}),
        ("config.`x.y` == 1", {"dotted"}),
        ("config.x.y == 1", set()),
        ("not config.x == 2 and config.x >= 0", {"float", "inf"}),
        ("config.x == 2 or not config.x != 'b'", {"int", "str"}),
        ("not (config.x > 1 or config.x < 1)", set()),
        ("summary.s > 1", {"int"}),
        ("summary.s < 1", {"float", "inf"}),
        ("not summary.s < 1", {"int"}),
        ("summary.s == 'b'", {"str"}),
        ("summary.s == true", {"true"}),
        ("summary.s in [2, 0.25, 9]", {"int", "float"}),
        ("summary.s is null", {"dotted"}),
        ("summary.s is not null", set(MIXED) - {"dotted"}),
        ("not summary.s is null and not summary.s > 0", {"inf"}),
        ("summary.nothing == 1", set()),
    ],
)
def test_filters_on_cells_answer_what_the_json_says(
    sql_store: Store, text: str, expected: set[str]
) -> None:
    seed_mixed(sql_store)
    assert {r.name for r in sql_store.runs.list("p", text)} == expected
    assert sql_store.runs.count("p", text) == len(expected)
    total, page = sql_store.runs.page("p", text, limit=5)  # type: ignore[attr-defined]
    assert total == len(expected) and {r.name for r in page} <= expected


def test_sorting_by_a_summary_orders_its_numbers_and_puts_the_rest_last(sql_store: Store) -> None:
    seed_mixed(sql_store)
    rest = ["dotted", "false", "missing", "null", "str", "true"]
    up = [r.name for r in sql_store.runs.list("p", order_by=["summary.s", "name"])]
    assert up == ["inf", "float", "int", *rest]
    down = [r.name for r in sql_store.runs.list("p", order_by=["-summary.s", "name"])]
    assert down == ["int", "float", "inf", *rest]


def test_group_statistics_read_the_summaries_cells(sql_store: Store) -> None:
    seed_mixed(sql_store)
    groups = sql_store.runs.group_stats(  # type: ignore[attr-defined]
        "p", "config.n is not null", "config.n.d", ["summary.s"]
    )
    by_value = {repr(g.value): g for g in groups}
    assert by_value["3"].stats == {"summary.s": (2.0, 2.0, 2.0)}
    assert by_value["0.5"].stats == {"summary.s": (0.25, 0.25, 0.25)}
    assert by_value["'c'"].stats == {}  # the user's "b" hides the metric's 9


def test_writers_keep_the_cells_current(sql_store: Store) -> None:
    run_id = create_run(sql_store, config={"a": {"b": 1}, "c": 1})
    write = sql_store.runs.write_batch

    def names(text: str, project: str = "p") -> list[str]:
        return [r.id for r in sql_store.runs.list(project, text)]

    write(Batch(run_id=run_id, writer="w", seq=1, ops=[points("k", [0], [1.0])]))
    assert names("summary.k == 1") == [run_id]
    config = UpdateRun(at=time.time(), config={"a": 5}, summary={"k": "x"})
    write(Batch(run_id=run_id, writer="w", seq=2, ops=[config]))
    assert names("config.a.b == 1") == [] and names("config.a == 5") == [run_id]
    assert names("config.c == 1") == [run_id]  # the keys not updated are kept
    assert names("summary.k > 0") == [] and names("summary.k == 'x'") == [run_id]
    write(Batch(run_id=run_id, writer="w", seq=3, ops=[points("k", [1], [3.0])]))
    assert names("summary.k > 0") == [] and names("summary.k == 'x'") == [run_id]
    sql_store.runs.move(run_id, "q")
    assert names("config.a == 5") == [] and names("config.a == 5", "q") == [run_id]
    assert sql_store.runs.project_keys("q")[1] == ["k"]  # type: ignore[attr-defined]
    assert sql_store.runs.project_keys("p")[1] == []  # type: ignore[attr-defined]
    sql_store.runs.delete(run_id)
    assert sql_store.runs.purge(older_than=0.0, dry_run=False).runs == [run_id]  # type: ignore[attr-defined]
    assert isinstance(sql_store, SqlStore)
    with sql_store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(run_cells)).scalar() == 0


def test_the_column_picker_lists_every_summary_key_of_the_project(sql_store: Store) -> None:
    seed_mixed(sql_store)
    other = create_run(sql_store, project="other")
    sql_store.runs.write_batch(Batch(run_id=other, writer="w", seq=1, ops=[points("z", [0], [1])]))
    assert sql_store.runs.project_keys("p")[1] == ["s"]  # type: ignore[attr-defined]
    assert sql_store.runs.project_keys("other")[1] == ["z"]  # type: ignore[attr-defined]
