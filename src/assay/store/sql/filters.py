"""Translate a parsed filter (assay.query.filter) into SQLAlchemy Core expressions.

Values are always bound parameters; field names map to known columns or JSON paths, so
no user text is ever pasted into SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from assay.errors import FilterSyntaxError
from assay.query.filter import BoolOp, Compare, Expr, Field, In, IsNull, ListLit, Literal, Not
from assay.store.sql.schema import metric_summary, run_tags, runs

_OPS = {
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


def status_expr(cutoff: float) -> sa.ColumnElement[Any]:
    """A running run whose last heartbeat is older than ``cutoff`` reads as crashed."""
    return sa.case(
        (sa.and_(runs.c.status == "running", runs.c.heartbeat_at < cutoff), sa.literal("crashed")),
        else_=runs.c.status,
    )


class FilterCompiler:
    def __init__(self, text: str, crash_cutoff: float) -> None:
        self.text = text
        self.cutoff = crash_cutoff

    def compile(self, expr: Expr) -> sa.ColumnElement[bool]:
        if isinstance(expr, BoolOp):
            parts = [self.compile(e) for e in expr.items]
            return sa.and_(*parts) if expr.op == "and" else sa.or_(*parts)
        if isinstance(expr, Not):
            return sa.not_(self.compile(expr.item))
        if isinstance(expr, IsNull):
            column = self.field(expr.field, None)
            test: sa.ColumnElement[bool] = column.is_not(None) if expr.negate else column.is_(None)
            return test
        if isinstance(expr, In):
            return self._in(expr)
        return self._compare(expr)

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
        if head == "config":
            return _typed(runs.c.config[rest], like)
        if head == "summary":
            user = _typed(runs.c.summary[rest], like)
            return sa.func.coalesce(user, _metric_stat(rest[0], "last"))
        return _metric_stat(rest[0], rest[1])

    def _compare(self, expr: Compare) -> sa.ColumnElement[bool]:
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, Literal) and isinstance(right, Field):
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if not isinstance(left, Field) or not isinstance(right, Literal):
            raise FilterSyntaxError("compare a field with a value", self.text, expr.pos)
        value = right.value
        column = self.field(left, value)
        if op == "~":
            if not isinstance(value, str):
                raise FilterSyntaxError(
                    "'~' matches text: give a quoted string", self.text, expr.pos
                )
            return sa.func.lower(sa.cast(column, sa.String)).contains(
                value.lower(), autoescape=True
            )
        if value is None:
            if op not in ("==", "!="):
                raise FilterSyntaxError(
                    f"cannot order against null with {op!r}", self.text, expr.pos
                )
            test: sa.ColumnElement[bool] = column.is_(None) if op == "==" else column.is_not(None)
            return test
        compared: sa.ColumnElement[bool] = _OPS[op](column, value)
        return compared

    def _in(self, expr: In) -> sa.ColumnElement[bool]:
        item, container = expr.item, expr.container
        found: sa.ColumnElement[bool]
        if isinstance(container, Field) and container.path == ("tags",):
            if not isinstance(item, Literal) or not isinstance(item.value, str):
                raise FilterSyntaxError("'in tags' needs a quoted tag", self.text, expr.pos)
            found = sa.exists().where(run_tags.c.run_id == runs.c.id, run_tags.c.tag == item.value)
        elif isinstance(item, Field) and isinstance(container, ListLit):
            values = container.values
            found = self.field(item, values[0]).in_(values) if values else sa.false()
        else:
            raise FilterSyntaxError(
                "use 'in' as  'tag' in tags  or  field in [values]", self.text, expr.pos
            )
        return ~found if expr.negate else found


def _typed(element: Any, like: Any) -> sa.ColumnElement[Any]:
    if isinstance(like, bool):
        return element.as_boolean()  # type: ignore[no-any-return]
    if isinstance(like, int | float):
        return element.as_float()  # type: ignore[no-any-return]
    return element.as_string()  # type: ignore[no-any-return]  # text; also for "is null"


def _metric_stat(key: str, stat: str) -> sa.ColumnElement[Any]:
    column = metric_summary.c["last_step" if stat == "step" else stat]
    return (
        sa.select(column)
        .where(metric_summary.c.run_id == runs.c.id, metric_summary.c.key == key)
        .scalar_subquery()
    )
