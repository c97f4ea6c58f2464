"""Group statistics of a project's runs in SQL: per value of a run field, its tags or a
config key, how many runs the filter matches and the mean, min and max of numeric
summary columns, over every matching run (not the page the table shows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput
from assay.query.filter import Field
from assay.store.sql.filters import FilterCompiler
from assay.store.sql.schema import run_tags, runs

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
    """The SQL value runs are grouped on."""
    if group == "group":
        return runs.c.group_name
    if group == "job_type":
        return runs.c.job_type
    if group == "tags":
        return _tags(dialect)
    path = tuple(group.removeprefix("config.").split("."))
    if not group.startswith("config.") or not all(path) or any('"' in p for p in path):
        raise InvalidInput(f"group by group, job_type, tags or config.<key>, not {group!r}")
    return runs.c.config[path]


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
) -> list[GroupStats]:
    """Groups of the runs matching ``where``, largest first; statistics of the
    ``summary.*`` and metric columns (config columns are labels, not measures)."""
    numeric = [c for c in dict.fromkeys(columns) if c.startswith("summary.")][:MAX_COLUMNS]
    value = group_expr(group, compiler.dialect).label("value")
    # the inner select looks each field up once per run; the outer one aggregates them
    per_run = sa.select(
        value, *[f.label(f"c{i}") for i, f in enumerate(_fields(compiler, numeric))]
    )
    # OFFSET 0 keeps the inner select apart (SQLite would otherwise flatten it into the
    # aggregate and look each field up four times per run: sum, count, min and max)
    rows = per_run.where(*where).offset(0).subquery()
    aggregates = []
    for i in range(len(numeric)):
        cell = rows.c[f"c{i}"]
        aggregates += [sa.func.sum(cell), sa.func.count(cell), sa.func.min(cell), sa.func.max(cell)]
    query = (
        sa.select(rows.c.value, sa.func.count(), *aggregates)
        .group_by(rows.c.value)
        .order_by(sa.func.count().desc())
        .limit(MAX_GROUPS)
    )
    merged: dict[str, _Partial] = {}
    for row in conn.execute(query):
        part = _Partial(row[0], int(row[1]))
        for i, column in enumerate(numeric):
            total, n, low, high = row[2 + 4 * i : 6 + 4 * i]
            if n:
                part.cells[column] = (float(total), int(n), float(low), float(high))
        label = repr(group_key(part.value))
        merged[label] = merged[label].add(part) if label in merged else part
    return sorted((p.stats() for p in merged.values()), key=lambda g: -g.count)


class _Partial:
    """A group's count and each column's (sum, numbers, min, max) while SQL groups that
    read back as one value are merged: PostgreSQL keeps a JSON null apart from a missing
    key, and both read as None."""

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


def _fields(compiler: FilterCompiler, columns: Sequence[str]) -> list[sa.ColumnElement[Any]]:
    return [compiler.field(Field(path=tuple(c.split(".", 1)), pos=0), 0.0) for c in columns]
