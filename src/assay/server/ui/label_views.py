"""What the labelling pages show: an item's content by kind, the answers an annotator
can give with their keyboard keys, and a project's summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from assay.records import LabelSchema, LabelTask

KEYS = "123456789"


@dataclass(frozen=True, kw_only=True)
class Choice:
    value: str
    label: str
    key: str


def choices(schema: LabelSchema) -> list[Choice]:
    """The buttons of a choice, rating or pairwise question, each with its key."""
    if schema.kind in {"single", "multi"}:
        values = list(schema.choices)
    elif schema.kind == "rating":
        values = [str(v) for v in range(schema.low, schema.high + 1)]
    elif schema.kind == "pairwise":
        values = ["A", "B", *(["tie"] if schema.ties else [])]
    else:
        return []
    return [
        Choice(value=v, label=v, key=KEYS[i] if i < len(KEYS) else "") for i, v in enumerate(values)
    ]


def parse_value(schema: LabelSchema, picked: list[str], text: str) -> Any:
    """The form's answer as the store takes it (the store checks it against the schema)."""
    if schema.kind == "multi":
        return picked
    if schema.kind == "text":
        return text
    value = picked[0] if picked else ""
    if schema.kind == "rating":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def shown(value: Any) -> str:
    """A cell or an output as text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def image_source(project_id: str, task: LabelTask) -> str | None:
    if task.kind != "image":
        return None
    if "url" in task.data:
        return str(task.data["url"])
    return f"/labels/{quote(project_id)}/items/{quote(task.item_id, safe='')}/image"


def share(value: Any) -> str:
    """0.875 -> "87.5%"; "-" for nothing or NaN."""
    if not isinstance(value, int | float) or value != value:
        return "-"
    return f"{value:.1%}"
