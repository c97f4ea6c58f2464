"""Translate a parsed filter (assay.query.filter) into SQLAlchemy Core expressions.

Values are always bound parameters; field names map to known columns or JSON paths, so
no user text is ever pasted into SQL.

Types, the same on SQLite and PostgreSQL: a value compares only with a field of its own
type (text, number or boolean). Across types a comparison is unknown, as in SQL: it
matches nothing, and neither does its negation (``config.x == 'a'`` skips runs whose x is
a number; so does ``config.x != 'a'``). NaN equals and orders nothing. A config or
summary value stored as "inf" or "-inf" (JSON has no infinities) compares as that number.

Config values and summaries are read from ``run_cells`` (store/sql/cells.py), typed
there the way the JSON reads: outside a negation a comparison is one range of the cells'
index over the project (``runs.id IN (...)``); under ``not`` it is the run's own cell,
looked up, so a missing value or one of another type stays unknown there too. Sorting by
a summary reads its cell's number. A test for null, sorting by config and paths that have
no cell read the JSON.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from assay.errors import FilterSyntaxError
from assay.query.filter import BoolOp, Compare, Expr, Field, In, IsNull, ListLit, Literal, Not
from assay.store.sql import cells
from assay.store.sql.schema import metric_summary, run_cells, run_tags, runs

# Passed as ``like`` when a field is wanted for ORDER BY: JSON values keep their own
# ordering (numbers numerically) instead of being cast to one type.
ORDER = object()

OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_COLUMNS = {
    "id": runs.c.id,
    "name": runs.c.name,
    "project": runs.c.project,
    "group": runs.c.group_name,
    "job_type": runs.c.job_type,
    "notes": runs.c.notes,
    "created": runs.c.created_at,
    "updated": runs.c.updated_at,
    "finished": runs.c.finished_at,
}
_TEXT_FIELDS = frozenset({"id", "name", "project", "group", "job_type", "notes", "status"})
# Non-finite numbers are stored in a config or summary as these strings (JSON has none);
# compared with a number they count as the number. NaN equals and orders nothing.
_NON_FINITE = cells.NON_FINITE
Test = Callable[[sa.ColumnElement[Any]], sa.ColumnElement[bool]]


def status_expr(cutoff: float) -> sa.ColumnElement[Any]:
    """A running run the store has not heard from since ``cutoff`` (by the store's own
    clock) reads as crashed."""
    seen = sa.func.coalesce(runs.c.seen_at, runs.c.heartbeat_at)
    return sa.case(
        (sa.and_(runs.c.status == "running", seen < cutoff), sa.literal("crashed")),
        else_=runs.c.status,
    )


def kind_of(value: Any) -> str:
    """The type a literal compares as: boolean, number or string."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


def _unknown() -> sa.ColumnElement[bool]:
    """Neither true nor false: a comparison across types matches nothing, and neither
    does its negation (as for a JSON value of another type)."""
    return sa.null()  # type: ignore[return-value]


class BooleanCompiler(ABC):
    """What every filter compiler shares (runs here, traces in trace_filters.py): and, or
    and not over the tests a subclass compiles for its own fields."""

    def compile(self, expr: Expr) -> sa.ColumnElement[bool]:
        if isinstance(expr, BoolOp):
            parts = [self.compile(e) for e in expr.items]
            return sa.and_(*parts) if expr.op == "and" else sa.or_(*parts)
        if isinstance(expr, Not):
            return sa.not_(self.compile(expr.item))
        if isinstance(expr, IsNull):
            return self._null(expr.field, expr.negate)
        if isinstance(expr, In):
            return self._in(expr)
        return self._compare(expr)

    @abstractmethod
    def _null(self, node: Field, negate: bool) -> sa.ColumnElement[bool]: ...

    @abstractmethod
    def _in(self, expr: In) -> sa.ColumnElement[bool]: ...

    @abstractmethod
    def _compare(self, expr: Compare) -> sa.ColumnElement[bool]: ...


class FilterCompiler(BooleanCompiler):
    """A run filter as SQL over ``runs``. Given the project the runs are of, comparisons
    outside a negation are answered from the index of ``run_cells``."""

    def __init__(
        self, text: str, crash_cutoff: float, dialect: str, project: str | None = None
    ) -> None:
        self.text = text
        self.cutoff = crash_cutoff
        self.dialect = dialect
        self.project = project
        self._negated = False

    def compile(self, expr: Expr) -> sa.ColumnElement[bool]:
        if isinstance(expr, Not):
            return sa.not_(self._flipped(expr.item))
        return super().compile(expr)

    def _flipped(self, expr: Expr) -> sa.ColumnElement[bool]:
        """``expr`` compiled under one more negation."""
        self._negated = not self._negated
        try:
            return self.compile(expr)
        finally:
            self._negated = not self._negated

    def _null(self, node: Field, negate: bool) -> sa.ColumnElement[bool]:
        column = self.field(node, None)
        test: sa.ColumnElement[bool] = column.is_not(None) if negate else column.is_(None)
        return test

    def order_field(self, node: Field) -> sa.ColumnElement[Any]:
        return self.field(node, ORDER)

    def sort_cell(self, node: Field) -> tuple[str, str] | None:
        """(kind, key) of the cell whose number an order by this field reads, if any."""
        return self._cell(node) if node.path[0] == "summary" else None

    def fixed_kind(self, node: Field) -> str | None:
        """The type of a field that has one (columns, metrics); None for JSON paths."""
        head = node.path[0]
        if head in _TEXT_FIELDS:
            return "string"
        if head in ("config", "summary", "tags"):
            return None
        return "number"

    def field(self, node: Field, like: Any) -> sa.ColumnElement[Any]:
        """The SQL expression for a field, typed after the value it is compared with."""
        head, rest = node.path[0], node.path[1:]
        if head == "tags":
            raise FilterSyntaxError("tags can only be tested with 'in'", self.text, node.pos)
        if head == "status":
            return status_expr(self.cutoff)
        if head == "duration":
            end = sa.func.coalesce(runs.c.finished_at, runs.c.heartbeat_at)
            return end - runs.c.created_at
        if head in _COLUMNS:
            return _COLUMNS[head]
        if any('"' in segment for segment in rest):
            raise FilterSyntaxError("path segments may not contain '\"'", self.text, node.pos)
        cell = self._cell(node)
        if cell is not None and like is not ORDER and (like is not None or head == "summary"):
            return cells.lookup(*cell, _typed(run_cells.c, like))
        if cell is not None and like is ORDER and head == "summary":
            return cells.lookup(*cell, run_cells.c.num)
        if head == "config":
            return self._json(runs.c.config, rest, like)
        if head == "summary":
            return self._summary(rest[0], like)
        return _metric_stat(rest[0], rest[1])

    def _cell(self, node: Field) -> tuple[str, str] | None:
        """(kind, key) of the cell that holds a config or summary field, if it has one."""
        head, rest = node.path[0], node.path[1:]
        if head == "config":
            key = cells.config_key(rest)
        elif head == "summary":
            key = cells.summary_key(rest[0])
        else:
            return None
        return None if key is None else (head, key)

    def _test(self, node: Field, like: Any, test: Test) -> sa.ColumnElement[bool]:
        """``test`` of the field typed after ``like``: outside a negation, over the
        project's cells (those that pass are a range of the index); else over the run's
        own value, where a missing one stays unknown."""
        cell = self._cell(node)
        if cell is None or self._negated or self.project is None:
            return test(self.field(node, like))
        passing = cells.matching(self.project, *cell, test(_typed(run_cells.c, like)))
        found: sa.ColumnElement[bool] = runs.c.id.in_(passing)
        return found

    def _kind(self, column: Any, path: tuple[str, ...]) -> sa.ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.func.jsonb_typeof(column[path])
        return sa.func.json_type(column, _sqlite_path(path))

    def _json(self, column: Any, path: tuple[str, ...], like: Any) -> sa.ColumnElement[Any]:
        """A JSON value by path, as SQL of the type of ``like``; NULL where the stored value
        has another JSON type, so ``config.opt > 1`` never matches the string "sgd"."""
        element = column[path]
        kind = self._kind(column, path)
        names: dict[str, tuple[str, ...]]
        if self.dialect == "postgresql":
            names = {"number": ("number",), "string": ("string",), "boolean": ("boolean",)}
        else:
            names = {
                "number": ("integer", "real"),
                "string": ("text",),
                "boolean": ("true", "false"),
            }
        if like is ORDER:
            return element if self.dialect == "postgresql" else element.as_string()  # type: ignore[no-any-return]
        if like is None:
            return element.as_string()  # type: ignore[no-any-return]  # for "is null"
        wanted = kind_of(like)
        if wanted == "boolean":
            return sa.case((kind.in_(names["boolean"]), element.as_boolean()))
        if wanted == "string":
            return sa.case((kind.in_(names["string"]), element.as_string()))
        text = sa.case((kind.in_(names["string"]), element.as_string()))
        return sa.case(
            (kind.in_(names["number"]), element.as_float()),
            *[(text == name, sa.literal(value, sa.Float)) for name, value in _NON_FINITE.items()],
        )

    def _summary(self, key: str, like: Any) -> sa.ColumnElement[Any]:
        """The user's summary value when there is one, else the metric's last value (a
        number: never equal to a string or boolean)."""
        present = self._kind(runs.c.summary, (key,)).is_not(None)
        if like is None:  # "is null": neither a summary value nor a metric
            metric = sa.exists().where(
                metric_summary.c.run_id == runs.c.id, metric_summary.c.key == key
            )
            return sa.case((present, sa.literal(1)), (metric, sa.literal(1)))
        if like is not ORDER and kind_of(like) != "number":
            return self._json(runs.c.summary, (key,), like)
        user = self._json(runs.c.summary, (key,), 0.0)
        return sa.case((present, user), else_=_metric_stat(key, "last"))

    def _compare(self, expr: Compare) -> sa.ColumnElement[bool]:
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, Literal) and isinstance(right, Field):
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if not isinstance(left, Field) or not isinstance(right, Literal):
            raise FilterSyntaxError("compare a field with a value", self.text, expr.pos)
        value = right.value
        if op == "~":
            if not isinstance(value, str):
                raise FilterSyntaxError(
                    "'~' matches text: give a quoted string", self.text, expr.pos
                )
            needle = value.lower()
            return self._test(
                left,
                value,
                lambda column: sa.func.lower(sa.cast(column, sa.String)).contains(
                    needle, autoescape=True
                ),
            )
        if value is None:
            if op not in ("==", "!="):
                raise FilterSyntaxError(
                    f"cannot order against null with {op!r}", self.text, expr.pos
                )
            column = self.field(left, None)
            test: sa.ColumnElement[bool] = column.is_(None) if op == "==" else column.is_not(None)
            return test
        if not self._comparable(left, value):
            return _unknown()
        compare: Callable[[Any, Any], sa.ColumnElement[bool]] = OPS[op]
        operand = _operand(left, value)
        return self._test(left, value, lambda column: compare(column, operand))

    def _comparable(self, node: Field, value: Any) -> bool:
        """False when the comparison can never hold: a value of another type than the
        field's, or NaN (which equals and orders nothing)."""
        if isinstance(value, float) and math.isnan(value):
            return False
        fixed = self.fixed_kind(node)
        return fixed is None or fixed == kind_of(value)

    def _in(self, expr: In) -> sa.ColumnElement[bool]:
        if not expr.negate:
            return self._found(expr)
        self._negated = not self._negated
        try:
            return ~self._found(expr)
        finally:
            self._negated = not self._negated

    def _found(self, expr: In) -> sa.ColumnElement[bool]:
        item, container = expr.item, expr.container
        found: sa.ColumnElement[bool]
        if isinstance(container, Field) and container.path == ("tags",):
            if not isinstance(item, Literal) or not isinstance(item.value, str):
                raise FilterSyntaxError("'in tags' needs a quoted tag", self.text, expr.pos)
            found = sa.exists().where(run_tags.c.run_id == runs.c.id, run_tags.c.tag == item.value)
        elif isinstance(item, Field) and isinstance(container, ListLit):
            found = self._in_list(item, container.values)
        else:
            raise FilterSyntaxError(
                "use 'in' as  'tag' in tags  or  field in [values]", self.text, expr.pos
            )
        return found

    def _in_list(self, node: Field, values: tuple[Any, ...]) -> sa.ColumnElement[bool]:
        """One IN per type of value in the list (a database compares one type at a time)."""
        groups: dict[str, list[Any]] = {}
        for value in values:
            if value is not None and self._comparable(node, value):
                groups.setdefault(kind_of(value), []).append(value)
        tests = [
            self._test(node, group[0], _within([_operand(node, v) for v in group]))
            for group in groups.values()
        ]
        if not tests:
            return sa.false() if not values else _unknown()
        return tests[0] if len(tests) == 1 else sa.or_(*tests)


def _operand(node: Field, value: Any) -> Any:
    """A number compared with a config or summary value is bound as a float (the type of
    the values it is compared with), whatever the type of the first one given."""
    if node.path[0] in ("config", "summary") and kind_of(value) == "number":
        return float(value)
    return value


def _within(values: list[Any]) -> Test:
    def test(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        return column.in_(values)

    return test


def _typed(cell: Any, like: Any) -> sa.ColumnElement[Any]:
    """A cell's value as SQL of the type of ``like`` (NULL where it has another type);
    with ``like`` None, 1 for any cell (a test for null asks whether there is one)."""
    if like is None:
        return sa.literal(1)
    wanted = kind_of(like)
    if wanted == "number":
        return cell.num  # type: ignore[no-any-return]
    if wanted == "string":
        return cell.text  # type: ignore[no-any-return]
    return sa.case((cell.value == "true", sa.true()), (cell.value == "false", sa.false()))


def _sqlite_path(path: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{segment}"' for segment in path)


def _metric_stat(key: str, stat: str) -> sa.ColumnElement[Any]:
    column = metric_summary.c["last_step" if stat == "step" else stat]
    return (
        sa.select(column)
        .where(metric_summary.c.run_id == runs.c.id, metric_summary.c.key == key)
        .scalar_subquery()
    )
