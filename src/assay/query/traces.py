"""The traces' filter fields (docs/traces.md): the run filter language over a trace's
summary and the models its spans called.

    latency > 2 and model == 'gpt-4o-mini'
    status == 'error' or cost >= 0.01
    name ~ 'checkout' and tokens > 1000
"""

from __future__ import annotations

from assay.errors import FilterSyntaxError
from assay.query.filter import Expr, Field, parse_filter

# field -> what it reads: text fields compare with strings, the rest with numbers
TRACE_FIELDS: dict[str, str] = {
    "trace_id": "text",
    "name": "text",
    "status": "text",  # 'ok' or 'error' (a span of it ended in error)
    "model": "text",  # any span of the trace called this model
    "start": "number",  # Unix seconds
    "end": "number",
    "latency": "number",  # seconds
    "spans": "number",
    "errors": "number",
    "input_tokens": "number",
    "output_tokens": "number",
    "tokens": "number",
    "cost": "number",
}


def _check(node: Field, text: str) -> None:
    if len(node.path) == 1 and node.path[0] in TRACE_FIELDS:
        return
    shown = ".".join(node.path)
    known = ", ".join(TRACE_FIELDS)
    raise FilterSyntaxError(f"unknown field {shown!r} (trace fields: {known})", text, node.pos)


def parse_trace_filter(text: str) -> Expr:
    """A trace filter's AST, or FilterSyntaxError pointing at what is wrong."""
    return parse_filter(text, _check)
