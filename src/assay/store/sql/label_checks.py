"""What a label project accepts: its schema, its items, and each label's value."""

from __future__ import annotations

import math
from typing import Any

from assay.errors import InvalidInput
from assay.records import (
    ITEM_KINDS,
    LABEL_KINDS,
    ROUTINGS,
    LabelItemDraft,
    LabelProjectDraft,
    LabelSchema,
)
from assay.store.validate import user_strings, user_text
from assay.values import check_project, check_text

MAX_ITEMS = 1_000_000
MAX_TEXT = 100_000  # characters of a free-text label or a comment
PAIR = ("A", "B")


def check_schema(schema: LabelSchema) -> None:
    if schema.kind not in LABEL_KINDS:
        raise InvalidInput(f"label kind {schema.kind!r} is not one of {', '.join(LABEL_KINDS)}")
    if schema.kind in {"single", "multi"}:
        if len(schema.choices) < 2 or len(set(schema.choices)) != len(schema.choices):
            raise InvalidInput(f"a {schema.kind} choice schema needs 2 or more distinct choices")
        for choice in schema.choices:
            check_text("choice", choice, 256)
    if schema.kind == "rating" and not schema.low < schema.high:
        raise InvalidInput(f"a rating scale needs low < high, not {schema.low}..{schema.high}")
    user_text("instructions", schema.instructions)


def check_draft(draft: LabelProjectDraft) -> None:
    check_project(draft.project)
    check_text("label project name", draft.name, 256)
    check_schema(draft.schema)
    check_text("source", draft.source or None, 1024)
    if draft.routing not in ROUTINGS:
        raise InvalidInput(f"routing {draft.routing!r} is not one of {', '.join(ROUTINGS)}")
    if not 1 <= draft.overlap <= 100:
        raise InvalidInput(f"overlap (labels per item) must be 1 to 100, not {draft.overlap}")
    if not 1 <= draft.min_labels <= draft.overlap:
        raise InvalidInput(
            f"min_labels must be 1 to overlap ({draft.overlap}), not {draft.min_labels}"
        )
    if not 0.5 <= draft.confidence < 1:
        raise InvalidInput(f"confidence must be in [0.5, 1), not {draft.confidence}")
    if draft.budget is not None and not 0 < draft.budget <= 1:
        raise InvalidInput(
            f"budget must be in (0, 1] (a share of overlap x items), not {draft.budget}"
        )
    if not 0 <= draft.gold_rate < 1:
        raise InvalidInput(f"gold_rate must be in [0, 1), not {draft.gold_rate}")
    check_items(draft.schema, draft.items)


def check_items(schema: LabelSchema, items: list[LabelItemDraft]) -> None:
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"a label project holds at most {MAX_ITEMS:,} items")
    seen: set[str] = set()
    for item in items:
        check_text("item id", item.item_id, 256, single_line=True)
        if item.item_id in seen:
            raise InvalidInput(f"item id {item.item_id!r} appears twice")
        seen.add(item.item_id)
        if item.kind not in ITEM_KINDS:
            raise InvalidInput(
                f"item {item.item_id!r}: kind {item.kind!r} is not one of {', '.join(ITEM_KINDS)}"
            )
        user_strings(f"item {item.item_id!r} data", item.data)
        if item.gold is not None:
            check_value(schema, item.gold, f"gold of item {item.item_id!r}")


def check_value(schema: LabelSchema, value: Any, what: str = "label") -> Any:
    """The value as stored, or InvalidInput naming what the schema expects."""
    kind = schema.kind
    if kind == "single" and value in schema.choices:
        return value
    if (
        kind == "multi"
        and isinstance(value, list | tuple)
        and all(v in schema.choices for v in value)
        and len(set(value)) == len(value)
    ):
        return sorted(value, key=schema.choices.index)
    if kind == "rating" and _whole(value) and schema.low <= value <= schema.high:
        return int(value)
    if kind == "text" and isinstance(value, str) and value.strip() and len(value) <= MAX_TEXT:
        user_text(what, value)
        return value
    if kind == "pairwise" and value in (*PAIR, *(("tie",) if schema.ties else ())):
        return value
    raise InvalidInput(f"{what} {value!r:.80} does not fit the schema: {expected(schema)}")


def expected(schema: LabelSchema) -> str:
    if schema.kind == "single":
        return "one of " + ", ".join(map(repr, schema.choices))
    if schema.kind == "multi":
        return "a list of distinct choices from " + ", ".join(map(repr, schema.choices))
    if schema.kind == "rating":
        return f"a whole number from {schema.low} to {schema.high}"
    if schema.kind == "text":
        return f"non-empty text of at most {MAX_TEXT:,} characters"
    return "'A' or 'B'" + (" or 'tie'" if schema.ties else "")


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def check_comment(comment: str | None) -> None:
    if comment is not None:
        check_text("comment", comment, MAX_TEXT)
