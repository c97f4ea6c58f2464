"""MLflow's run search language, translated into Assay's filter language (docs/query.md).

    metrics.acc > 0.9 and params.lr = '0.01' and tags.team = 'vision'
    attributes.status = 'FINISHED' and attributes.start_time >= 1700000000000
    attributes.run_name LIKE '%baseline%' and attributes.run_id IN ('a', 'b')

How MLflow's fields read (docs/mlflow.md): ``metrics.k`` is the metric's last value,
``params.k`` the config value (as text, or its number), ``tags.k = 'v'`` the Assay tag
``k=v`` (``tags.mlflow.runName`` the name, ``tags.mlflow.note.content`` the notes),
``start_time`` and ``end_time`` are milliseconds. What has no Assay equivalent (a LIKE
pattern other than ``%text%``, a tag's LIKE, datasets) is refused with InvalidInput
naming it: a search never quietly answers a different question.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assay.errors import InvalidInput

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
    | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<op>!=|<>|>=|<=|=|<|>)
    | (?P<paren>[(),])
    | (?P<field>[A-Za-z_][\w]*(?:\.(?:`[^`]+`|"[^"]+"|[\w\-/:]+))*)
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_WORDS = {"AND", "OR", "IN", "NOT", "IS", "NULL", "LIKE", "ILIKE"}
_ENTITIES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
    "dataset": "datasets",
    "datasets": "datasets",
}
_ATTRIBUTES = {
    "run_id": "id",
    "run_uuid": "id",
    "id": "id",
    "run_name": "name",
    "status": "status",
    "start_time": "created",
    "end_time": "finished",
    "created": "created",
    "lifecycle_stage": "lifecycle_stage",
}
_MILLIS = {"created", "finished"}
_RUN_NAME, _NOTE = "mlflow.runName", "mlflow.note.content"


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    found: list[_Tok] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup == "bad" or match.lastgroup is None:
            raise InvalidInput(f"search filter: unexpected character at {position}: {text!r}")
        kind, value = match.lastgroup, match.group(match.lastgroup)
        if kind == "field" and value.upper() in _WORDS:
            kind, value = "word", value.upper()
        found.append(_Tok(kind, value))
        position = match.end()
    return found


@dataclass(frozen=True)
class Clause:
    entity: str  # metrics | params | tags | attributes | datasets
    key: str
    op: str  # = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: str | float | list[str] | None


def parse_search(text: str | None) -> list[Clause]:
    """MLflow's filter as clauses joined by AND (MLflow has no OR)."""
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    clauses: list[Clause] = []
    index = 0
    while True:
        clause, index = _clause(tokens, index, text)
        clauses.append(clause)
        if index == len(tokens):
            return clauses
        if tokens[index] != _Tok("word", "AND"):
            raise InvalidInput(
                f"search filter {text!r}: expected AND at {tokens[index].text!r} "
                "(MLflow filters join clauses with AND only)"
            )
        index += 1


def _clause(tokens: list[_Tok], index: int, text: str) -> tuple[Clause, int]:
    def at(i: int) -> _Tok:
        if i >= len(tokens):
            raise InvalidInput(f"search filter {text!r} ends too early")
        return tokens[i]

    head = at(index)
    if head.kind != "field":
        raise InvalidInput(f"search filter {text!r}: expected a field, got {head.text!r}")
    entity, key = _field(head.text)
    op_tok = at(index + 1)
    if op_tok.kind == "op":
        op = "!=" if op_tok.text == "<>" else op_tok.text
        return Clause(entity, key, op, _value(at(index + 2), text)), index + 3
    if op_tok.text in ("LIKE", "ILIKE"):
        value = _value(at(index + 2), text)
        if not isinstance(value, str):
            raise InvalidInput(f"search filter {text!r}: {op_tok.text} needs a quoted pattern")
        return Clause(entity, key, op_tok.text, value), index + 3
    if op_tok.text == "IS":
        if at(index + 2).text == "NULL":
            return Clause(entity, key, "IS NULL", None), index + 3
        if at(index + 2).text == "NOT" and at(index + 3).text == "NULL":
            return Clause(entity, key, "IS NOT NULL", None), index + 4
    negate = op_tok.text == "NOT"
    start = index + 2 if negate else index + 1
    if at(start).text == "IN":
        values, end = _list(tokens, start + 1, text)
        return Clause(entity, key, "NOT IN" if negate else "IN", values), end
    raise InvalidInput(f"search filter {text!r}: unknown comparison {op_tok.text!r}")


def _list(tokens: list[_Tok], index: int, text: str) -> tuple[list[str], int]:
    if index >= len(tokens) or tokens[index].text != "(":
        raise InvalidInput(f"search filter {text!r}: IN needs a list in parentheses")
    values: list[str] = []
    index += 1
    while index < len(tokens):
        tok = tokens[index]
        if tok.text == ")":
            return values, index + 1
        if tok.text != ",":
            value = _value(tok, text)
            if not isinstance(value, str):
                raise InvalidInput(f"search filter {text!r}: IN takes quoted strings")
            values.append(value)
        index += 1
    raise InvalidInput(f"search filter {text!r}: the IN list is not closed")


def _field(text: str) -> tuple[str, str]:
    head, dot, rest = text.partition(".")
    if not dot:
        return "attributes", head
    entity = _ENTITIES.get(head.lower())
    if entity is None:
        raise InvalidInput(
            f"search filter: {head!r} is not metrics, params, tags, attributes or datasets"
        )
    if len(rest) > 1 and rest[0] == rest[-1] and rest[0] in '`"':
        rest = rest[1:-1]
    return entity, rest


def _value(tok: _Tok, text: str) -> str | float:
    if tok.kind == "string":
        quote = tok.text[0]
        return tok.text[1:-1].replace(quote * 2, quote)
    if tok.kind == "number":
        return float(tok.text)
    raise InvalidInput(f"search filter {text!r}: expected a value, got {tok.text!r}")


# ---- into Assay's language ----------------------------------------------------------------


def to_assay_filter(text: str | None) -> str | None:
    """The Assay filter an MLflow search filter means, or None for "every run"."""
    parts = [p for p in (_translate(c) for c in parse_search(text)) if p]
    return " and ".join(parts) if parts else None


def _translate(clause: Clause) -> str:
    if clause.entity == "metrics":
        return _metric(clause)
    if clause.entity == "params":
        return _param(clause)
    if clause.entity == "tags":
        return _tag(clause)
    if clause.entity == "attributes":
        return _attribute(clause)
    raise InvalidInput(f"search filter: {clause.entity}.{clause.key} is not searchable in Assay")


_COMPARE = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _metric(clause: Clause) -> str:
    if clause.op not in _COMPARE or not isinstance(clause.value, float):
        raise InvalidInput(f"search filter: metrics.{clause.key} compares with a number")
    return f"metrics.{_segment(clause.key)}.last {_COMPARE[clause.op]} {_number(clause.value)}"


def _param(clause: Clause) -> str:
    fields = [f"config.{_segment(clause.key)}"]
    if "." in clause.key:  # a nested config key reads as a.b too
        fields.append("config." + ".".join(_segment(p) for p in clause.key.split(".")))
    if clause.op in ("IS NULL", "IS NOT NULL"):
        joiner = " and " if clause.op == "IS NULL" else " or "
        return "(" + joiner.join(f"{f} {clause.op.lower()}" for f in fields) + ")"
    options = [_text_compare(f, clause, f"params.{clause.key}") for f in fields]
    value = clause.value
    if clause.op in ("=", "!=") and isinstance(value, str) and _is_number(value):
        options += [f"{f} {_COMPARE[clause.op]} {_number(float(value))}" for f in fields]
    joiner = " and " if clause.op == "!=" else " or "
    return "(" + joiner.join(options) + ")"


def _tag(clause: Clause) -> str:
    if clause.key == _RUN_NAME:
        return _text_compare("name", clause, "tags.mlflow.runName")
    if clause.key == _NOTE:
        return _text_compare("notes", clause, "tags.mlflow.note.content")
    if clause.key.startswith("mlflow.") or clause.op not in ("=", "!=", "IN", "NOT IN"):
        raise InvalidInput(
            f"search filter: tags.{clause.key} {clause.op}: Assay searches tags by equality "
            "(tags.k = 'v', tags.k != 'v', tags.k IN (...)) and MLflow's own tags "
            "mlflow.runName and mlflow.note.content only"
        )
    values = clause.value if isinstance(clause.value, list) else [clause.value]
    tests = [f"{_string(_tag_text(clause.key, str(v)))} in tags" for v in values]
    if clause.op in ("=", "IN"):
        return "(" + " or ".join(tests) + ")"
    return " and ".join(f"not {t}" for t in tests)


def _tag_text(key: str, value: str) -> str:
    return f"{key}={value}" if value else key


def _attribute(clause: Clause) -> str:
    field = _ATTRIBUTES.get(clause.key)
    if field is None:
        raise InvalidInput(
            f"search filter: attributes.{clause.key} is not searchable in Assay "
            f"(use one of {', '.join(sorted(_ATTRIBUTES))})"
        )
    if field == "lifecycle_stage":  # Assay runs are all active (nothing is deleted here)
        if clause.op == "=" and str(clause.value).lower() == "active":
            return ""
        return "id is null"  # matches nothing
    if field in _MILLIS:
        if clause.op not in _COMPARE or not isinstance(clause.value, float):
            raise InvalidInput(f"search filter: attributes.{clause.key} compares with a number")
        return f"{field} {_COMPARE[clause.op]} {_number(clause.value / 1000.0)}"
    if field == "status":
        values = clause.value if isinstance(clause.value, list) else [clause.value]
        mapped = [_status(str(v)) for v in values]
        clause = Clause(
            clause.entity,
            clause.key,
            clause.op,
            mapped if len(values) > 1 or isinstance(clause.value, list) else mapped[0],
        )
    return _text_compare(field, clause, f"attributes.{clause.key}")


def _status(value: str) -> str:
    statuses = {
        "RUNNING": "running",
        "SCHEDULED": "running",
        "FINISHED": "finished",
        "FAILED": "failed",
        "KILLED": "killed",
    }
    found = statuses.get(value.upper())
    if found is None:
        raise InvalidInput(f"search filter: {value!r} is not a run status")
    return found


def _text_compare(field: str, clause: Clause, shown: str) -> str:
    value = clause.value
    if clause.op in ("IN", "NOT IN") and isinstance(value, list):
        listed = ", ".join(_string(v) for v in value)
        return f"{field} {clause.op.lower()} [{listed}]"
    if clause.op in ("IS NULL", "IS NOT NULL"):
        return f"{field} {clause.op.lower()}"
    if clause.op in ("LIKE", "ILIKE") and isinstance(value, str):
        return _like(field, value, shown)
    if clause.op in ("=", "!=") and isinstance(value, str):
        return f"{field} {_COMPARE[clause.op]} {_string(value)}"
    raise InvalidInput(f"search filter: {shown} {clause.op} {value!r} is not supported")


def _like(field: str, pattern: str, shown: str) -> str:
    inner = pattern[1:-1] if len(pattern) >= 2 and pattern[0] == pattern[-1] == "%" else None
    if inner is not None and not any(c in inner for c in "%_"):
        return f"{field} ~ {_string(inner)}"
    if not any(c in pattern for c in "%_"):
        return f"{field} == {_string(pattern)}"
    raise InvalidInput(
        f"search filter: {shown} LIKE {pattern!r}: Assay matches '%text%' (a "
        "case-insensitive substring) or an exact value"
    )


def _segment(key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_/\-]*", key):
        return key
    if "`" in key:
        raise InvalidInput(f"search filter: key {key!r} holds a backtick")
    return f"`{key}`"


def _string(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise InvalidInput(f"search filter: {value!r} holds both kinds of quote")


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


# ---- order_by ----------------------------------------------------------------------------


def to_assay_order(order_by: list[str]) -> list[str]:
    """MLflow's ``metrics.acc DESC`` clauses as Assay's ``-metrics.acc.last``; newest
    first by default, then by id (MLflow's tie-break)."""
    found: list[str] = []
    for spec in order_by:
        text = spec.strip()
        direction = ""
        upper = text.upper()
        for word in (" DESC", " ASC"):
            if upper.endswith(word):
                direction, text = word.strip(), text[: -len(word)].strip()
                break
        entity, key = _field(text)
        if entity == "metrics":
            field = f"metrics.{_segment(key)}.last"
        elif entity == "params":
            field = f"config.{_segment(key)}"
        elif entity == "attributes" and key in _ATTRIBUTES and key != "lifecycle_stage":
            field = _ATTRIBUTES[key]
        elif entity == "tags" and key == _RUN_NAME:
            field = "name"
        else:
            raise InvalidInput(f"order_by {spec!r}: Assay cannot order runs by {entity}.{key}")
        found.append(("-" if direction == "DESC" else "") + field)
    if not any(f.lstrip("-") == "created" for f in found):
        found.append("-created")
    return [*found, "id"]
