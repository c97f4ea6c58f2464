"""The run filter language (docs/query.md), parsed with Lark into a small AST.

    config.lr < 0.05 and summary.acc > 0.9 and 'baseline' in tags
    status == 'finished' or (config.model.depth >= 3 and not name ~ 'debug')
    metrics.`val/loss`.min < 0.2 and config.optimizer in ['adam', 'sgd']

Fields: ``id name status project group job_type notes created updated finished
duration tags``, ``config.<path>``, ``summary.<key>`` (the user's summary value, else the
metric's last value) and ``metrics.<key>.<last|min|max|count|step>``. A path segment with
characters other than letters, digits, ``_``, ``/`` and ``-`` is written in backticks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from assay.errors import FilterSyntaxError, InvalidInput

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*           -> or_
?and_expr: not_expr (_AND not_expr)*         -> and_
?not_expr: _NOT not_expr                     -> not_
         | atom
?atom: "(" or_expr ")"
     | operand COMP operand                  -> compare
     | operand _IN operand                   -> in_
     | operand _NOT _IN operand              -> not_in
     | field _IS _NULL                       -> is_null
     | field _IS _NOT _NULL                  -> is_not_null
?operand: field | literal | array
field: segment ("." segment)*
segment: NAME | QUOTED
literal: NUMBER | STRING | TRUE | FALSE | NULLLIT
array: "[" [literal ("," literal)*] "]"

COMP: "==" | "!=" | "<=" | ">=" | "<" | ">" | "~"
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULLLIT.1: /none\b/i
NAME: /[A-Za-z_][A-Za-z0-9_\/\-]*/
QUOTED: /`[^`]+`/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/ | /[+-]?inf\b/i | /nan\b/i
STRING: /'[^']*'/ | /"[^"]*"/
%import common.WS
%ignore WS
"""

TOP_FIELDS = frozenset(
    [
        "id",
        "name",
        "status",
        "project",
        "group",
        "job_type",
        "notes",
        "created",
        "updated",
        "finished",
        "duration",
        "tags",
    ]
)
METRIC_STATS = frozenset({"last", "min", "max", "count", "step"})
INT64 = (-(2**63), 2**63 - 1)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Literal:
    value: Any
    pos: int


@dataclass(frozen=True)
class ListLit:
    values: tuple[Any, ...]
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Field | Literal | ListLit
    right: Field | Literal | ListLit
    pos: int


@dataclass(frozen=True)
class In:
    item: Field | Literal | ListLit
    container: Field | Literal | ListLit
    negate: bool
    pos: int


@dataclass(frozen=True)
class IsNull:
    field: Field
    negate: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Compare | In | IsNull | BoolOp | Not
# refuses a field a filter may not name: FilterSyntaxError(message, text, node.pos)
FieldCheck = Callable[[Field, str], None]


def _pos(meta_or_token: Any) -> int:
    return int(getattr(meta_or_token, "start_pos", 0) or 0)


_EQUALITY = frozenset({"==", "!="})


def _unordered(side: Any) -> bool:
    return isinstance(side, Literal) and isinstance(side.value, bool)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    def __init__(self, text: str, check: FieldCheck) -> None:
        super().__init__()
        self.text = text
        self.check = check

    def segment(self, meta: Any, children: list[Token]) -> tuple[str, int]:
        tok = children[0]
        name = str(tok)
        return (name[1:-1] if tok.type == "QUOTED" else name), tok.start_pos or 0

    def field(self, meta: Any, children: list[tuple[str, int]]) -> Field:
        node = Field(tuple(name for name, _ in children), children[0][1])
        self.check(node, self.text)
        return node

    def literal(self, meta: Any, children: list[Token]) -> Literal:
        tok = children[0]
        text = str(tok)
        value: Any
        if tok.type == "NUMBER":
            value = float(text) if any(c in text.lower() for c in ".eni") else int(text)
            if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
                value = float(value)  # no column holds it exactly: compare as a float
        elif tok.type == "STRING":
            value = text[1:-1]
        else:
            value = {"TRUE": True, "FALSE": False, "NULLLIT": None}[tok.type]
        return Literal(value, tok.start_pos or 0)

    def array(self, meta: Any, children: list[Literal | None]) -> ListLit:
        return ListLit(tuple(c.value for c in children if c is not None), _pos(meta))

    def compare(self, meta: Any, children: list[Any]) -> Compare:
        left, op, right = children
        pos = op.start_pos or 0
        if str(op) not in _EQUALITY and any(_unordered(side) for side in (left, right)):
            raise FilterSyntaxError(
                f"true and false have no order: compare them with == or !=, not {op}",
                self.text,
                pos,
            )
        return Compare(str(op), left, right, pos)

    def in_(self, meta: Any, children: list[Any]) -> In:
        return In(children[0], children[1], False, _pos(meta))

    def not_in(self, meta: Any, children: list[Any]) -> In:
        return In(children[0], children[1], True, _pos(meta))

    def is_null(self, meta: Any, children: list[Any]) -> IsNull:
        return IsNull(children[0], False)

    def is_not_null(self, meta: Any, children: list[Any]) -> IsNull:
        return IsNull(children[0], True)

    def and_(self, meta: Any, children: list[Expr]) -> Expr:
        return children[0] if len(children) == 1 else BoolOp("and", tuple(children))

    def or_(self, meta: Any, children: list[Expr]) -> Expr:
        return children[0] if len(children) == 1 else BoolOp("or", tuple(children))

    def not_(self, meta: Any, children: list[Expr]) -> Not:
        return Not(children[0])


def _check_field(node: Field, text: str) -> None:
    head, rest = node.path[0], node.path[1:]
    if head in TOP_FIELDS and not rest:
        return
    if head in ("config", "summary") and rest and (head == "config" or len(rest) == 1):
        return
    if head == "metrics" and len(rest) == 2 and rest[1] in METRIC_STATS:
        return
    shown = ".".join(node.path)
    hint = (
        "metrics fields are metrics.<key>.<last|min|max|count|step>"
        if head == "metrics"
        else f"known fields: {', '.join(sorted(TOP_FIELDS))}, config.<path>, summary.<key>, "
        "metrics.<key>.<stat>"
    )
    raise FilterSyntaxError(f"unknown field {shown!r} ({hint})", text, node.pos)


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse_filter(text: str, check: FieldCheck | None = None) -> Expr:
    """Parse a filter expression, or raise FilterSyntaxError pointing at the position.
    ``check`` refuses an unknown field (default: the runs' fields; traces have theirs)."""
    if not text.strip():
        raise FilterSyntaxError("empty filter", text, 0)
    unstorable = _UNSTORABLE.search(text)
    if unstorable is not None:  # no stored text holds one: PostgreSQL could not compare it
        shown = text.encode("utf-8", "backslashreplace").decode()
        raise FilterSyntaxError("a NUL character or a lone surrogate", shown, unstorable.start())
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise FilterSyntaxError(_describe(exc), text, _error_pos(exc, text)) from None
    try:
        result: Expr = _ToAst(text, check or _check_field).transform(tree)
    except Exception as exc:  # lark wraps errors raised inside the transformer
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, FilterSyntaxError):
            raise inner from None
        raise
    if isinstance(result, Field | Literal | ListLit):
        raise FilterSyntaxError("a filter must be a condition, not a lone value", text, 0)
    return result


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedEOF):
        return "unexpected end of filter"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return "unexpected end of filter"
        return f"unexpected {str(exc.token)!r}"
    return "syntax error"


def _error_pos(exc: UnexpectedInput, text: str) -> int:
    if isinstance(exc, UnexpectedEOF):
        return len(text)
    if isinstance(exc, UnexpectedToken):
        return len(text) if exc.token.type == "$END" else int(exc.token.start_pos or 0)
    pos = getattr(exc, "pos_in_stream", None)
    return len(text) if pos is None or pos < 0 else int(pos)


def parse_order(spec: str) -> tuple[Field, bool]:
    """Parse ``-summary.acc`` into (field, descending); anything but one field, perhaps
    signed, is InvalidInput naming ``order_by``."""
    if not isinstance(spec, str):
        raise InvalidInput(f"order_by {spec!r:.60} must be a field name")
    text = spec.strip()
    descending = text.startswith("-")
    body = text[1:].strip() if text[:1] in "+-" else text
    try:
        expr = parse_filter(f"{body} is null") if body else None
    except FilterSyntaxError as exc:
        raise InvalidInput(f"order_by {spec!r:.80}: {exc.reason}") from None
    if not isinstance(expr, IsNull) or expr.negate:
        raise InvalidInput(
            f"order_by {spec!r:.80} must be one field, optionally prefixed with '-' "
            "(such as -summary.acc)"
        )
    return expr.field, descending
