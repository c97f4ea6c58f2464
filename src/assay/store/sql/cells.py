"""``run_cells``: a run's config values and summaries, one row each, typed for the runs
table's filters, sorting and grouping (an index on (project, kind, key, num) answers
``summary.acc > 0.9`` over a project without reading a run's JSON).

A config cell is a leaf of the config, named by its dotted path (``model.depth``); a key
that is empty or holds "." or '"' has no cell (nor anything under it), so a dotted name
always means one path, and a filter on such a key reads the JSON instead. A summary cell
is the value ``summary.<key>`` reads: the user's summary value when the run has one
(``value`` holds it as JSON), else the metric's last value (``value`` NULL). Names longer
than ``KEY_LENGTH`` have no cell either. ``num`` is a number, or the number a "inf" or
"-inf" string stands for; ``text`` a string; booleans, nulls, lists and objects are
known by ``value`` alone. Every writer of runs keeps the cells in its transaction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from assay.store.sql.schema import KEY_LENGTH, run_cells, runs
from assay.store.sql.tx import Tx

CONFIG, SUMMARY = "config", "summary"
# Non-finite numbers are stored in a config or summary as these strings (JSON has none);
# compared with a number they count as the number.
NON_FINITE = {"inf": math.inf, "-inf": -math.inf}


def cell_segment(segment: str) -> bool:
    """Whether a config key can be part of a cell's dotted name."""
    return bool(segment) and "." not in segment and '"' not in segment


def config_key(path: Iterable[str]) -> str | None:
    """The cell name of a config path, or None when the path has no cell."""
    parts = list(path)
    if not parts or not all(cell_segment(p) for p in parts):
        return None
    key = ".".join(parts)
    return key if len(key) <= KEY_LENGTH else None


def summary_key(key: str) -> str | None:
    return key if len(key) <= KEY_LENGTH else None


def config_leaves(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, value) of each leaf of a config that has a cell (an empty object is
    a leaf)."""
    for name, value in config.items():
        if not cell_segment(name):
            continue
        dotted = prefix + name
        if isinstance(value, Mapping) and value:
            yield from config_leaves(value, dotted + ".")
        elif len(dotted) <= KEY_LENGTH:
            yield dotted, value


def typed(value: Any) -> dict[str, Any]:
    """A user's value as a cell's (num, text, value) columns."""
    num: float | None = None
    text: str | None = None
    if isinstance(value, str):
        text, num = value, NON_FINITE.get(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            num = float(value)
        except OverflowError:  # an integer past any float: it compares as nothing
            num = None
        if num is not None and math.isnan(num):
            num = None
    return {"num": num, "text": text, "value": json.dumps(value)}


def config_rows(run_id: str, project: str, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "kind": CONFIG, "key": key, "project": project, **typed(value)}
        for key, value in config_leaves(config)
    ]


def summary_rows(run_id: str, project: str, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cells of the user's summary values (they hide the metrics' last values)."""
    return [
        {"run_id": run_id, "kind": SUMMARY, "key": key, "project": project, **typed(value)}
        for key, value in summary.items()
        if summary_key(key) is not None
    ]


def metric_rows(
    run_id: str, project: str, lasts: Mapping[str, float | None]
) -> list[dict[str, Any]]:
    """The cells of metrics' last values (NULL for NaN), for keys the user's summary
    lacks (``put_metrics`` leaves the others alone)."""
    return [
        {
            "run_id": run_id,
            "kind": SUMMARY,
            "key": key,
            "project": project,
            "num": last,
            "text": None,
            "value": None,
        }
        for key, last in lasts.items()
    ]


def put_config(tx: Tx, run_id: str, project: str, config: Mapping[str, Any]) -> None:
    """Replace the run's config cells by those of ``config`` (the whole, merged config)."""
    c = run_cells.c
    tx.conn.execute(run_cells.delete().where(c.run_id == run_id, c.kind == CONFIG))
    rows = config_rows(run_id, project, config)
    if rows:
        tx.conn.execute(run_cells.insert(), rows)


def put_summary(tx: Tx, run_id: str, project: str, summary: Mapping[str, Any]) -> None:
    """Set the cells of these summary keys to the user's values."""
    rows = summary_rows(run_id, project, summary)
    if rows:
        upsert = tx.insert(run_cells)
        tx.conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["run_id", "kind", "key"],
                set_={c: upsert.excluded[c] for c in ("num", "text", "value")},
            ),
            rows,
        )


def put_metrics(tx: Tx, run_id: str, project: str, lasts: Mapping[str, float | None]) -> None:
    """Set the cells of these metrics to their last values, where the user's summary has
    no value of the same key."""
    put_metrics_of(tx, [(run_id, project, lasts)])


def put_metrics_of(
    tx: Tx, runs_lasts: Iterable[tuple[str, str, Mapping[str, float | None]]]
) -> None:
    """``put_metrics`` for several runs (run id, project, lasts) in one statement."""
    rows = [row for run, project, lasts in runs_lasts for row in metric_rows(run, project, lasts)]
    if rows:
        upsert = tx.insert(run_cells)
        tx.conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["run_id", "kind", "key"],
                set_={"num": upsert.excluded["num"]},
                where=run_cells.c.value.is_(None),
            ),
            rows,
        )


def move(conn: sa.Connection, run_id: str, project: str) -> None:
    conn.execute(run_cells.update().where(run_cells.c.run_id == run_id).values(project=project))


def lookup(kind: str, key: str, column: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """``column`` (an expression over ``run_cells``) of the current run's cell, for a
    query over ``runs``: NULL where the run has no such cell."""
    c = run_cells.c
    return (
        sa.select(column)
        .where(c.run_id == runs.c.id, c.kind == kind, c.key == key)
        .scalar_subquery()
    )


def matching(project: str, kind: str, key: str, test: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The ids of the project's runs whose cell passes ``test`` (over ``run_cells``)."""
    c = run_cells.c
    return sa.select(c.run_id).where(c.project == project, c.kind == kind, c.key == key, test)


def keys(project: str, kind: str) -> sa.Select[Any]:
    """The distinct names of the project's cells of a kind, sorted: one index seek per
    name (a loose index scan), however many runs hold each."""
    c = run_cells.c
    scope = (c.project == project, c.kind == kind)
    walk = sa.select(sa.func.min(c.key).label("key")).where(*scope).cte("walk", recursive=True)
    following = sa.select(sa.func.min(c.key)).where(*scope, c.key > walk.c.key).scalar_subquery()
    walk = walk.union_all(sa.select(following).where(walk.c.key.is_not(None)))
    return sa.select(walk.c.key).where(walk.c.key.is_not(None))
