"""The runs table's group statistics equal a brute-force pass over the runs read back in
full: every group's count and the mean, min and max of each summary column, for every
type a group value may have, on SQLite and PostgreSQL, and still after runs are edited,
deleted, restored and moved."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from assay.ids import new_run_id
from assay.records import Batch, Run, RunEdit, UpdateRun
from assay.store import Store
from assay.store.sql import runs_groups
from assay.store.sql.runs_groups import group_key
from tests.conftest import StoreFactory, create_op, points

LONG = "k" * 300  # a config key too long for a cell: grouped by its JSON
OPT = ("adam", "sgd", 1, 1.0, True, False, None, "inf", [1, 2], {"x": 1}, {}, 0.25)
COLUMNS = ["summary.m", "summary.s", "summary.absent", "config.lr"]
Predicate = Callable[[Run], bool]


def number(run: Run, key: str) -> float | None:
    """What ``summary.<key>`` reads as a number: the user's value, else the metric's last
    value; None for anything that is not a number (or NaN)."""
    if key in run.summary:
        value = run.summary[key]
        if isinstance(value, str):
            return {"inf": math.inf, "-inf": -math.inf}.get(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return None if math.isnan(value) else float(value)
    metric = run.metrics.get(key)
    return None if metric is None or math.isnan(metric.last) else metric.last


def config_number(run: Run, key: str) -> float | None:
    value = run.config.get(key)
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def holds(value: float | None, test: Callable[[float], bool]) -> bool:
    """A comparison with a missing value (or one of another type) is unknown: false, and
    its negation too."""
    return value is not None and test(value)


FILTERS: dict[str | None, Predicate] = {
    None: lambda r: True,
    "summary.m > 0.3": lambda r: holds(number(r, "m"), lambda v: v > 0.3),
    "not summary.m > 0.5": lambda r: holds(number(r, "m"), lambda v: not v > 0.5),
    "config.lr < 0.5 and summary.s >= 0": lambda r: (
        holds(config_number(r, "lr"), lambda v: v < 0.5) and holds(number(r, "s"), lambda v: v >= 0)
    ),
}


def group_value(run: Run, group: str) -> Any:
    """The value a run is grouped on, read from the run as the store returns it."""
    if group == "tags":
        return ", ".join(sorted(run.tags)) or None
    if group in ("group", "job_type"):
        return getattr(run, group)
    value: Any = run.config
    for part in group.removeprefix("config.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def brute_force(runs: list[Run], keep: Predicate, group: str) -> dict[str, Any]:
    """{group label: (count, {column: (mean, min, max)})} over the runs ``keep`` keeps."""
    members: dict[str, list[Run]] = {}
    for run in filter(keep, runs):
        members.setdefault(repr(group_key(group_value(run, group))), []).append(run)
    out: dict[str, Any] = {}
    for label, group_runs in members.items():
        stats = {}
        for column in COLUMNS:
            if not column.startswith("summary."):
                continue
            values = [v for r in group_runs if (v := number(r, column[8:])) is not None]
            if values and math.isfinite(mean := sum(values) / len(values)):
                stats[column] = (mean, min(values), max(values))
        out[label] = (len(group_runs), stats)
    return out


def from_store(store: Store, project: str, text: str | None, group: str, **kw: Any) -> Any:
    found = store.runs.group_stats(project, text, group, COLUMNS, **kw)  # type: ignore[attr-defined]
    labels = [repr(group_key(g.value)) for g in found]
    assert len(labels) == len(set(labels))  # one group per value
    assert [g.count for g in found] == sorted((g.count for g in found), reverse=True)
    return {repr(group_key(g.value)): (g.count, dict(g.stats)) for g in found}


GROUPS = ("config.opt", "config.lr", f"config.{LONG}", "config.n.d", "tags", "group")


def same(found: dict[str, Any], want: dict[str, Any], *where: object) -> None:
    assert found.keys() == want.keys(), where
    for label, (count, stats) in want.items():
        assert found[label][0] == count, (*where, label)
        assert found[label][1].keys() == stats.keys(), (*where, label)
        for column, numbers in stats.items():
            got = found[label][1][column]
            assert got == pytest.approx(numbers, rel=1e-12), (*where, label)


def agree(store: Store, project: str = "p", *, deleted: bool = False) -> None:
    """Every filter and group key gives what the brute force gives; so do the groups a
    table's page shows, asked for by value (``keep``: here every other one)."""
    runs = store.runs.list(project, limit=10_000, deleted=deleted)
    for text, keep in FILTERS.items():
        for group in GROUPS:
            want = brute_force(runs, keep, group)
            same(from_store(store, project, text, group, deleted=deleted), want, text, group)
            chosen = set(sorted(want)[::2])
            found = from_store(
                store,
                project,
                text,
                group,
                deleted=deleted,
                keep=lambda value: repr(group_key(value)) in chosen,  # noqa: B023  (used at once)
            )
            same(found, {k: v for k, v in want.items() if k in chosen}, text, group, "kept")


def seed(store: Store, n: int = 48, project: str = "p") -> list[str]:
    rng = random.Random(7)
    ids = []
    for i in range(n):
        opt = OPT[i % len(OPT)]
        lr = rng.choice([0.1, 0.1 + 0.2, 0.25, 0.5, 1, 1.0])  # 0.1 + 0.2: 17 digits
        config: dict[str, Any] = {"lr": lr, LONG: opt}
        if i % 5:
            config["opt"] = opt
        config["n"] = {"d": i % 3} if i % 4 else 2
        op = create_op(
            project=project,
            name=f"r{i}",
            config=config,
            tags=[["a"], ["b", "a"], []][i % 3],
            group=["x", "y", None][i % 3],
        )
        m = math.nan if i % 11 == 0 else rng.random()
        ops: list[Any] = [op, points("m", [0, 1], [rng.random(), m])]
        if i % 2:
            ops.append(points("s", [0], [rng.random()]))
        if i % 7 == 0:
            summary = rng.choice([{"s": "inf"}, {"s": "b"}, {"s": 3}, {"s": True}, {"m": 0.9}])
            ops.append(UpdateRun(at=time.time(), summary=summary))
        run_id = new_run_id()
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))
        ids.append(run_id)
    return ids


@pytest.fixture
def sql_store(sql_store_factory: StoreFactory) -> Store:
    return sql_store_factory()


def test_group_statistics_equal_a_pass_over_every_run(sql_store: Store) -> None:
    seed(sql_store)
    agree(sql_store)


def test_group_values_keep_their_types(sql_store: Store) -> None:
    """A value is grouped as the run's config holds it: 1 and 1.0 apart (as the table's
    page keeps them), True with 1 (as SQLite reads a JSON boolean), every digit of a
    float, an object, a list, and a null with the missing key."""
    seed(sql_store)
    found = sql_store.runs.group_stats("p", None, "config.opt", [])  # type: ignore[attr-defined]
    assert {repr(group_key(g.value)) for g in found} == {repr(group_key(v)) for v in OPT}
    lrs = sql_store.runs.group_stats("p", None, "config.lr", [])  # type: ignore[attr-defined]
    assert {repr(g.value) for g in lrs} == {"0.1", "0.30000000000000004", "0.25", "0.5", "1", "1.0"}


def test_group_statistics_follow_edits_deletes_restores_and_moves(sql_store: Store) -> None:
    ids = seed(sql_store)
    write = sql_store.runs.write_batch
    edits = [
        UpdateRun(at=time.time(), config={"opt": "sgd", "lr": 0.1}),
        UpdateRun(at=time.time(), config={"opt": {"deep": 1}}),  # an object: no cell of its own
        UpdateRun(at=time.time(), summary={"m": 0.05, "s": "-inf"}),
        UpdateRun(at=time.time(), config={"n": {"d": "z"}}),
    ]
    for i, op in enumerate(edits):
        assert write(Batch(run_id=ids[i], writer="w", seq=1, ops=[op]))
    assert write(Batch(run_id=ids[10], writer="w", seq=1, ops=[points("m", [5], [0.4])]))
    sql_store.runs.update(ids[11], RunEdit(tags=["c"], group="z"))
    for run_id in ids[12:20]:
        sql_store.runs.delete(run_id)
    for run_id in ids[12:15]:
        sql_store.runs.restore(run_id)
    for run_id in ids[20:24]:
        sql_store.runs.move(run_id, "q")
    agree(sql_store)
    agree(sql_store, deleted=True)
    agree(sql_store, "q")


def test_groups_asked_for_are_answered_beyond_the_largest(
    sql_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key of more values than the groups answered (the largest, by count): the groups
    a table's page shows are answered whatever their size."""
    seed(sql_store)
    monkeypatch.setattr(runs_groups, "MAX_GROUPS", 2)
    largest = sql_store.runs.group_stats("p", None, "config.lr", [])  # type: ignore[attr-defined]
    assert len(largest) == 2
    smallest = min(g.count for g in largest)
    chosen = sql_store.runs.group_stats(  # type: ignore[attr-defined]
        "p", None, "config.lr", [], keep=lambda value: True
    )
    assert len(chosen) == 6 and min(g.count for g in chosen) <= smallest
