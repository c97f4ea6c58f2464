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

# Passed as ``like`` when a field is wanted for ORDER BY: JSON values keep their own
# ordering (numbers numerically) instead of being cast to one type.
ORDER = object()

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
    def __init__(self, text: str, crash_cutoff: float, dialect: str) -> None:
        self.text = text
        self.cutoff = crash_cutoff
        self.dialect = dialect

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
        if any('"' in segment for segment in rest):
            raise FilterSyntaxError("path segments may not contain '\"'", self.text, node.pos)
        if head == "config":
            return self._json(runs.c.config, rest, like)
        if head == "summary":
            user = self._json(runs.c.summary, rest, 0.0 if like is ORDER else like)
            return sa.func.coalesce(user, _metric_stat(rest[0], "last"))
        return _metric_stat(rest[0], rest[1])

    def _json(self, column: Any, path: tuple[str, ...], like: Any) -> sa.ColumnElement[Any]:
        """A JSON value by path, as SQL of the type of ``like``; NULL where the stored value
        has another JSON type, so ``config.opt > 1`` never matches the string "sgd"."""
        element = column[path]
        names: dict[str, tuple[str, ...]]
        if self.dialect == "postgresql":
            kind = sa.func.jsonb_typeof(element)
            names = {"number": ("number",), "string": ("string",), "boolean": ("boolean",)}
        else:
            kind = sa.func.json_type(column, _sqlite_path(path))
            names = {
                "number": ("integer", "real"),
                "string": ("text",),
                "boolean": ("true", "false"),
            }
        if like is ORDER:
            return element if self.dialect == "postgresql" else element.as_string()  # type: ignore[no-any-return]
        if isinstance(like, bool):
            return sa.case((kind.in_(names["boolean"]), element.as_boolean()))
        if isinstance(like, int | float):
            return sa.case((kind.in_(names["number"]), element.as_float()))
        if isinstance(like, str):
            return sa.case((kind.in_(names["string"]), element.as_string()))
        return element.as_string()  # type: ignore[no-any-return]  # for "is null"

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


def _sqlite_path(path: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{segment}"' for segment in path)


def _metric_stat(key: str, stat: str) -> sa.ColumnElement[Any]:
    column = metric_summary.c["last_step" if stat == "step" else stat]
    return (
        sa.select(column)
        .where(metric_summary.c.run_id == runs.c.id, metric_summary.c.key == key)
        .scalar_subquery()
    )
