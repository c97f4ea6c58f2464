"""Adaptive routing: which items need another label, and who should give it.

Every item gets ``min_labels`` labels. After that, an item whose consensus posterior is
below ``confidence`` asks for one more label (up to ``overlap``), and that label goes
only to an annotator whose estimated quality is at least the median of the project's
annotators: accuracy on gold items when they answered enough of them, else the
expected accuracy under the consensus. Items the consensus is sure of get no more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MIN_GOLD = 3  # gold answers an annotator needs before gold accuracy is their quality


@dataclass(frozen=True, kw_only=True)
class Plan:
    """``needed``: items whose number of labels needed changes, and to what; ``quality``
    per annotator; ``min_quality``: the least quality for a label beyond min_labels."""

    needed: dict[str, int] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    min_quality: float | None = None


def plan(
    labels: pd.DataFrame,
    needed: Mapping[str, int],
    *,
    min_labels: int,
    overlap: int,
    confidence: float,
    gold: pd.DataFrame | None = None,
    method: str = "auto",
) -> Plan:
    """``labels``: item, worker, label (the done labels of non-gold and gold items);
    ``needed``: each non-gold item's current need; ``gold``: item, label."""
    from assay.labeling.aggregation import aggregate

    if labels.empty:
        return Plan()
    gold_items = set() if gold is None else set(gold["item"])
    result = aggregate(labels, method, gold if gold is not None and len(gold) else None)
    done = {str(k): int(v) for k, v in labels.groupby("item").size().items()}
    sure = dict(zip(result.labels["item"], result.labels["confidence"].astype(float), strict=True))
    changes: dict[str, int] = {}
    for item, now in needed.items():
        if item in gold_items:
            continue
        count = done.get(item, 0)
        want = max(min_labels, now)
        if count >= want and count < overlap and sure.get(item, 0.0) < confidence:
            want = count + 1
        if want != now:
            changes[item] = want
    quality = _quality(result.workers)
    floor = float(np.median(list(quality.values()))) if len(quality) > 1 else None
    return Plan(needed=changes, quality=quality, min_quality=floor)


def _quality(workers: pd.DataFrame) -> dict[str, float]:
    value = workers["accuracy"].to_numpy(dtype=float)
    if "gold_labels" in workers:
        on_gold = workers["gold_labels"].to_numpy(dtype=float) >= MIN_GOLD
        gold = workers["gold_accuracy"].to_numpy(dtype=float)
        value = np.where(on_gold & np.isfinite(gold), gold, value)
    clipped = np.clip(value, 0.0, 1.0)
    return {str(w): float(q) for w, q in zip(workers["worker"], clipped, strict=True)}
