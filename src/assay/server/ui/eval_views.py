"""What the evaluation pages show, computed from stored items: flips between two evaluations
and short text for inputs and outputs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assay.records import EvalItem

FLIPS_SHOWN = 200
TEXT_LIMIT = 300


@dataclass(frozen=True)
class Flip:
    item_id: str
    inputs: str
    label: str
    candidate: str
    baseline: str


def number(value: Any, digits: int = 4) -> str:
    """A metric for a table: 4 significant digits, "-" for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def short(value: Any, limit: int = TEXT_LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _means(items: Sequence[EvalItem], scorer: str) -> dict[str, tuple[float, EvalItem]]:
    """Per item id: the mean score over its successful calls, and its first call."""
    totals: dict[str, list[float]] = {}
    first: dict[str, EvalItem] = {}
    for item in items:
        first.setdefault(item.item_id, item)
        value = item.scores.get(scorer)
        if item.error is None and value is not None and math.isfinite(value):
            totals.setdefault(item.item_id, []).append(value)
    return {k: (sum(v) / len(v), first[k]) for k, v in totals.items()}


def pass_fail_scorers(items: Sequence[EvalItem]) -> list[str]:
    """Item scorers whose every score is 0 or 1 (the ones an item can flip on)."""
    seen: dict[str, bool] = {}
    for item in items:
        for name, value in item.scores.items():
            binary = value is None or value in (0.0, 1.0)
            seen[name] = seen.get(name, True) and binary
    return [name for name, binary in seen.items() if binary]


def flips(
    candidate: Sequence[EvalItem], baseline: Sequence[EvalItem], scorer: str
) -> tuple[list[Flip], list[Flip], int]:
    """(passed before and fail now, failed before and pass now, how many of each in all)."""
    now, before = _means(candidate, scorer), _means(baseline, scorer)
    broke: list[Flip] = []
    fixed: list[Flip] = []
    for item_id, (score, item) in now.items():
        if item_id not in before:
            continue
        old, old_item = before[item_id]
        row = Flip(
            item_id,
            short(item.inputs),
            short(item.label),
            short(item.output),
            short(old_item.output),
        )
        if old >= 0.5 > score:
            broke.append(row)
        elif score >= 0.5 > old:
            fixed.append(row)
    return broke[:FLIPS_SHOWN], fixed[:FLIPS_SHOWN], max(len(broke), len(fixed))
