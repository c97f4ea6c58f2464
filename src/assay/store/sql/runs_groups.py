"""Group statistics of a project's runs in SQL: per value of a run field, its tags or a
config key, how many runs the filter matches and the mean, min and max of numeric
summary columns, over every matching run (not the page the table shows).

The group's config value and each column are the run's cells (store/sql/cells.py),
joined by their keys: one seek each per matching run, where the config value read
from the run's JSON cost a read of its row and a parse. A run without that config
cell (a key too long for one, or one holding an object) reads its JSON. The value is
grouped as JSON text and decoded here, so 1 and 1.0 stay apart as they do on the
table's page, and a float keeps every digit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput
from assay.query.filter import Field
from assay.store.sql import cells
from assay.store.sql.filters import FilterCompiler
from assay.store.sql.schema import run_cells, run_tags, runs

MAX_GROUPS = 1000  # groups answered; a key with more values is not worth grouping by
MAX_COLUMNS = 40


class GroupStats(msgspec.Struct, kw_only=True, frozen=True):
    """One group: its value (a config value, a run field, or the run's tags joined by
    ", "), how many runs the filter matches in it, and (mean, min, max) of each column
    that has numbers there."""

    value: Any
    count: int
    stats: dict[str, tuple[float, float, float]]


def group_key(value: Any) -> Any:
    """What two group values compare as: SQLite reads JSON booleans back as 1 and 0."""
    return int(value) if isinstance(value, bool) else value


def group_expr(group: str, dialect: str) -> sa.ColumnElement[Any]:
    """The SQL value runs are grouped on: a run field, the run's tags joined, or a config
    value as JSON text read from the run's config (``decoded`` reads it back)."""
    if group == "group":
        return runs.c.group_name
    if group == "job_type":
        return runs.c.job_type
    if group == "tags":
        return _tags(dialect)
    return sa.cast(runs.c.config[_config_path(group)], sa.Text)


def groupable(group: str) -> bool:
    """Whether runs can be grouped on ``group`` in SQL (``group_stats`` refuses others)."""
    try:
        group_expr(group, "sqlite")
    except InvalidInput:
        return False
    return True


def _config_path(group: str) -> tuple[str, ...]:
    path = tuple(group.removeprefix("config.").split("."))
    if not group.startswith("config.") or not all(path) or any('"' in p for p in path):
        raise InvalidInput(f"group by group, job_type, tags or config.<key>, not {group!r}")
    return path


def _grouped(
    source: sa.FromClause, group: str, dialect: str
) -> tuple[sa.FromClause, sa.ColumnElement[Any]]:
    """(``source`` joined to what runs are grouped on, the value): a config value is the
    run's cell when it has one (nearly always), else its JSON (a key too long for a
    cell, or one holding an object, whose keys have cells but which has none of its
    own)."""
    stored = group_expr(group, dialect)
    key = cells.config_key(_config_path(group)) if group.startswith("config.") else None
    if key is None:
        return source, stored
    cell = run_cells.alias("grouped_on")
    on = sa.and_(cell.c.run_id == runs.c.id, cell.c.kind == cells.CONFIG, cell.c.key == key)
    return source.outerjoin(cell, on), sa.func.coalesce(cell.c.value, stored)


def decoded(group: str, value: Any) -> Any:
    """A group's value as SQL read it, as Python: config values are JSON text."""
    if value is None or not group.startswith("config."):
        return value
    return json.loads(value)


def _tags(dialect: str) -> sa.ColumnElement[Any]:
    """The run's tags, sorted, joined by ", " (NULL for none)."""
    if dialect == "postgresql":
        ordered = sa.func.string_agg(run_tags.c.tag, sa.literal_column("', ' ORDER BY tag"))
        return sa.select(ordered).where(run_tags.c.run_id == runs.c.id).scalar_subquery()
    # SQLite (3.40 has no ORDER BY inside an aggregate): group_concat over a sorted subquery
    inner = (
        sa.select(run_tags.c.tag)
        .where(run_tags.c.run_id == runs.c.id)
        .order_by(run_tags.c.tag)
        .correlate(runs)
        .subquery()
    )
    return sa.select(sa.func.group_concat(inner.c.tag, ", ")).correlate(runs).scalar_subquery()


def group_stats(
    conn: sa.Connection,
    where: Sequence[sa.ColumnElement[bool]],
    compiler: FilterCompiler,
    group: str,
    columns: Sequence[str],
    *,
    keep: Callable[[Any], bool] | None = None,
) -> list[GroupStats]:
    """Groups of the runs matching ``where``, largest first; statistics of the
    ``summary.*`` and metric columns (config columns are labels, not measures). The
    ``MAX_GROUPS`` largest; with ``keep``, every group whose value it keeps, however
    many groups there are (the groups a page of the runs table shows)."""
    numeric = [c for c in dict.fromkeys(columns) if c.startswith("summary.")][:MAX_COLUMNS]
    source: sa.FromClause = runs
    if compiler.dialect == "postgresql":
        # PostgreSQL would join the cells before the filter's last test and look them up
        # for runs the filter then drops: the matching runs first (OFFSET 0 keeps them so)
        matching = sa.select(runs.c.id).where(*where).offset(0).subquery("matching")
        source, where = runs.join(matching, matching.c.id == runs.c.id), []
    source, value = _grouped(source, group, compiler.dialect)
    fields = []
    for i, column in enumerate(numeric):
        key = cells.summary_key(column.split(".", 1)[1])
        if key is None:  # no cell: the JSON or the metric, looked up
            fields.append(_field(compiler, column))
            continue
        own = run_cells.alias(f"column_{i}")
        on = sa.and_(own.c.run_id == runs.c.id, own.c.kind == cells.SUMMARY, own.c.key == key)
        source = source.outerjoin(own, on)
        fields.append(own.c.num)
    # the inner select reads each field once per run (a cell joined by its key: one
    # seek); the outer one aggregates them
    per_run = sa.select(value.label("value"), *[f.label(f"c{i}") for i, f in enumerate(fields)])
    # OFFSET 0 keeps the inner select apart (SQLite would otherwise flatten it into the
    # aggregate and look a field without a cell up four times per run: sum, count, min
    # and max)
    rows = per_run.select_from(source).where(*where).offset(0).subquery()
    aggregates = []
    for i in range(len(numeric)):
        cell = rows.c[f"c{i}"]
        aggregates += [sa.func.sum(cell), sa.func.count(cell), sa.func.min(cell), sa.func.max(cell)]
    query = sa.select(rows.c.value, sa.func.count(), *aggregates).group_by(rows.c.value)
    if keep is None:
        query = query.order_by(sa.func.count().desc()).limit(MAX_GROUPS)
    # else every group, in no order (sorted here once kept): sorting all of them in SQL
    # cost more than the pass itself for a key of a value per run (100,000 groups)
    merged: dict[str, _Partial] = {}
    for row in conn.execute(query):
        part = _Partial(decoded(group, row[0]), int(row[1]))
        if keep is not None and not keep(part.value):
            continue
        for i, column in enumerate(numeric):
            total, n, low, high = row[2 + 4 * i : 6 + 4 * i]
            if n:  # SQLite sums inf and -inf to NULL: NaN, a mean not shown
                total = math.nan if total is None else float(total)
                part.cells[column] = (total, int(n), float(low), float(high))
        label = repr(group_key(part.value))
        merged[label] = merged[label].add(part) if label in merged else part
    return sorted((p.stats() for p in merged.values()), key=lambda g: -g.count)


class _Partial:
    """A group's count and each column's (sum, numbers, min, max) while SQL groups that
    read back as one value are merged: a JSON null and a missing key both read as None,
    and true is grouped with 1 (as SQLite reads a JSON boolean)."""

    def __init__(self, value: Any, count: int) -> None:
        self.value, self.count = value, count
        self.cells: dict[str, tuple[float, int, float, float]] = {}

    def add(self, other: _Partial) -> _Partial:
        self.count += other.count
        for column, (total, n, low, high) in other.cells.items():
            t, m, lo, hi = self.cells.get(column, (0.0, 0, low, high))
            self.cells[column] = (t + total, m + n, min(lo, low), max(hi, high))
        return self

    def stats(self) -> GroupStats:
        stats = {
            column: (total / n, low, high)
            for column, (total, n, low, high) in self.cells.items()
            if math.isfinite(total / n)
        }
        return GroupStats(value=self.value, count=self.count, stats=stats)


def _field(compiler: FilterCompiler, column: str) -> sa.ColumnElement[Any]:
    return compiler.field(Field(path=tuple(column.split(".", 1)), pos=0), 0.0)
