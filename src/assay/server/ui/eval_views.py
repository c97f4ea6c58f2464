"""What the evaluation pages show, computed from stored items: flips between two evaluations
and short text for inputs and outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assay.evaluation.report import mean_scores
from assay.records import EvalItem, Evaluation
from assay.store.base import Store

FLIPS_SHOWN = 200
TEXT_LIMIT = 300


@dataclass(frozen=True, kw_only=True)
class Flip:
    item_id: str
    inputs: str  # short, for the table
    label: str
    candidate: str
    baseline: str
    inputs_full: str = ""  # longer, shown on demand


INPUTS_LIMIT = 4000


def of_version(store: Store, version_id: str, project: str | None = None) -> list[Evaluation]:
    """Evaluations of a model or dataset artifact version, newest first."""
    found = store.evaluations.list(project, model_version_id=version_id)
    found += store.evaluations.list(project, dataset_version_id=version_id)
    unique = {e.id: e for e in found}
    return sorted(unique.values(), key=lambda e: e.created_at, reverse=True)


def shown_report(report: Any) -> dict[str, Any]:
    """The parts of a stored report the page shows, each in the shape the page expects: a
    report from another writer (an older Assay, a hand-made request) may lack keys or hold
    other types, and then shows empty parts instead of failing."""
    r = report if isinstance(report, dict) else {}
    verdict, errors = _mapping(r.get("verdict")), _mapping(r.get("errors"))
    count = errors.get("count")
    level = _level(_mapping(r.get("config")).get("level"), 0.95)
    compare = [_with_holm(row, level) for row in _rows(r.get("compare"))]
    return {
        "verdict": {"reason": str(verdict.get("reason") or "")},
        "level": level,
        "metrics": _rows(r.get("metrics")),
        "compare": compare,
        "holm": any(row["holm"] for row in compare),
        "shared": _mapping(r.get("shared")),
        "errors": {
            "count": count if isinstance(count, int) else 0,
            "examples": _rows(errors.get("examples")),
        },
    }


def _level(value: Any, default: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1
    return float(value) if ok else default


def percent(level: Any) -> str:
    """0.95 -> "95%", 0.98333 -> "98.33%" (as the CLI prints a level)."""
    return f"{_level(level, 0.95) * 100:.4g}%"


def _with_holm(row: dict[str, Any], level: float) -> dict[str, Any]:
    """A comparison row with the level of its interval, and ``holm``: the Holm-adjusted
    level its gate was decided at when that differs from it (else None)."""
    own = _level(row.get("level"), level)
    held = row.get("gate_level")
    holm = _level(held, own) if held is not None else own
    return {**row, "level": own, "holm": holm if abs(holm - own) > 1e-12 else None}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rows(value: Any) -> list[dict[str, Any]]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def short(value: Any, limit: int = TEXT_LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pretty(value: Any) -> str:
    """Inputs in full (up to INPUTS_LIMIT characters): a table row's columns one a line."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str, sort_keys=True, indent=1)
    return text if len(text) <= INPUTS_LIMIT else text[: INPUTS_LIMIT - 1] + "…"


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
    now, before = mean_scores(candidate, scorer), mean_scores(baseline, scorer)
    shown_now = {i.item_id: i for i in reversed(candidate)}  # an item's first call
    shown_before = {i.item_id: i for i in reversed(baseline)}
    broke_ids = [i for i, score in now.items() if i in before and before[i] >= 0.5 > score]
    fixed_ids = [i for i, score in now.items() if i in before and score >= 0.5 > before[i]]

    def row(item_id: str) -> Flip:  # only for the flips shown
        item, old_item = shown_now[item_id], shown_before[item_id]
        inputs, label = short(item.inputs, 80), short(item.label)
        full = _pretty(item.inputs) if inputs.endswith("…") else ""  # only what was cut
        return Flip(
            item_id=item_id,
            inputs=inputs,
            label=label,
            candidate=short(item.output),
            baseline=short(old_item.output),
            inputs_full=full,
        )

    broke = [row(i) for i in broke_ids[:FLIPS_SHOWN]]
    fixed = [row(i) for i in fixed_ids[:FLIPS_SHOWN]]
    return broke, fixed, max(len(broke_ids), len(fixed_ids))
