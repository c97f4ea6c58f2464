"""Translate a trace filter (assay.query.traces) into SQLAlchemy Core over ``traces``.

Values are always bound parameters. Each field has one type (assay.query.traces): a
value of another type is refused with a message rather than matching nothing. ``model``
asks whether any span of the trace called that model.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from assay.errors import FilterSyntaxError
from assay.query.filter import Compare, Field, In, ListLit, Literal
from assay.query.traces import TRACE_FIELDS, parse_trace_filter
from assay.store.sql.filters import OPS, BooleanCompiler
from assay.store.sql.schema import spans, traces

_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
_TOKENS = sa.case(
    (
        sa.and_(traces.c.input_tokens.is_(None), traces.c.output_tokens.is_(None)),
        sa.null(),
    ),
    else_=sa.func.coalesce(traces.c.input_tokens, 0) + sa.func.coalesce(traces.c.output_tokens, 0),
)
_COLUMNS: dict[str, Any] = {
    "trace_id": traces.c.trace_id,
    "name": traces.c.name,
    "status": sa.case((traces.c.n_errors > 0, sa.literal("error")), else_=sa.literal("ok")),
    "start": traces.c.start_ns / 1e9,
    "end": traces.c.end_ns / 1e9,
    "latency": (traces.c.end_ns - traces.c.start_ns) / 1e9,
    "spans": traces.c.n_spans,
    "errors": traces.c.n_errors,
    "input_tokens": traces.c.input_tokens,
    "output_tokens": traces.c.output_tokens,
    "tokens": _TOKENS,
    "cost": traces.c.cost,
}


def trace_filter(text: str) -> sa.ColumnElement[bool]:
    """The WHERE clause a trace filter stands for."""
    return _Compiler(text).compile(parse_trace_filter(text))


def _any_span(test: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        spans.c.project == traces.c.project, spans.c.trace_id == traces.c.trace_id, test
    )


class _Compiler(BooleanCompiler):
    def __init__(self, text: str) -> None:
        self.text = text

    def _null(self, node: Field, negate: bool) -> sa.ColumnElement[bool]:
        name = node.path[0]
        if name == "model":
            found = _any_span(spans.c.model.is_not(None))
            return found if negate else ~found
        column = _COLUMNS[name]
        test: sa.ColumnElement[bool] = column.is_not(None) if negate else column.is_(None)
        return test

    def _check(self, node: Field, value: Any, pos: int) -> None:
        kind = TRACE_FIELDS[node.path[0]]
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if (kind == "number") != is_number or (kind == "text") != isinstance(value, str):
            wanted = "a number" if kind == "number" else "a quoted string"
            raise FilterSyntaxError(
                f"{node.path[0]} is {'a number' if kind == 'number' else 'text'}: "
                f"compare it with {wanted}, not {value!r}",
                self.text,
                pos,
            )

    def _compare(self, expr: Compare) -> sa.ColumnElement[bool]:
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, Literal) and isinstance(right, Field):
            left, right, op = right, left, _FLIP.get(op, op)
        if not isinstance(left, Field) or not isinstance(right, Literal):
            raise FilterSyntaxError("compare a field with a value", self.text, expr.pos)
        value = right.value
        if value is None:
            if op not in ("==", "!="):
                raise FilterSyntaxError(
                    f"cannot order against null with {op!r}", self.text, expr.pos
                )
            return self._null(left, op == "!=")
        self._check(left, value, expr.pos)
        if isinstance(value, float) and math.isnan(value):
            return sa.false()
        if op == "~":
            if not isinstance(value, str):
                raise FilterSyntaxError(
                    "'~' matches text: give a quoted string", self.text, expr.pos
                )
            return self._on(
                left, lambda c: sa.func.lower(c).contains(value.lower(), autoescape=True)
            )
        return self._on(left, lambda c: OPS[op](c, value))

    def _on(self, node: Field, test: Any) -> sa.ColumnElement[bool]:
        if node.path[0] == "model":
            return _any_span(test(spans.c.model))
        result: sa.ColumnElement[bool] = test(_COLUMNS[node.path[0]])
        return result

    def _in(self, expr: In) -> sa.ColumnElement[bool]:
        item, container = expr.item, expr.container
        if not isinstance(item, Field) or not isinstance(container, ListLit):
            raise FilterSyntaxError("use 'in' as  field in [values]", self.text, expr.pos)
        for value in container.values:
            self._check(item, value, expr.pos)
        values = list(container.values)
        found = self._on(item, lambda c: c.in_(values)) if values else sa.false()
        return ~found if expr.negate else found
