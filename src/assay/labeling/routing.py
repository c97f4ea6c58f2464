"""Adaptive routing: which items need another label, and who should give it.

After each label the project's consensus is refitted (the ``auto`` method, gold items
fixed to their answers), so every item's posterior and every annotator's estimated
quality follow the labels as they arrive. Then:

- every item gets ``min_labels`` labels;
- an item whose posterior confidence (the probability of its most likely label) is
  below ``confidence`` may get one more, up to ``overlap``; the least confident items
  are asked first (uncertainty sampling on the posterior, not on vote margins);
- with a ``budget`` (a share of ``overlap`` x items), the budget is spent: the least
  confident items get the next labels, below ``confidence`` or not, until the budget is
  used (the model's posteriors are overconfident with few labels per worker, since they
  take the estimated worker qualities as known, so a label the team has budgeted for is
  better spent on the least sure items than kept), at most one open extra ask per
  annotator seen so far at a time, so the budget follows the answers as they come in
  instead of being spent in one go;
- a label beyond ``min_labels`` goes first to an annotator whose estimated quality for
  that kind of item is at least the median of the annotators of that kind (the item's
  ``min_quality``), and to anyone else who has not labelled it when no such annotator
  asks first: an unsure item left waiting for a good annotator costs more accuracy than
  one more label from a middling one.

Replayed on the RTE, TEMP and WSD crowd data sets (``bench/labeling.py``), a hard floor
at the median left unsure items without a label, and capping the open extra asks
without a budget stopped short of the confidence asked for; both cost accuracy.

An item's **kind** (for annotator quality) is its ``group`` when its data has one (a
column named with ``group_column=``: a topic, a language, a source) and otherwise its
item kind (text, image, row, output, pair). An annotator's quality for a kind is their
expected accuracy on the items of that kind under the consensus posteriors (on gold
items that is their accuracy against the gold answer), shrunk towards their quality
over all items with the weight of ``PRIOR`` labels, so a few labels of a kind move it
only a little. Their overall quality is their gold accuracy once they answered
``MIN_GOLD`` gold items, else their expected accuracy under the consensus, shrunk the
same way towards the crowd's (the mean over all labels): ranked by the raw figure, an
annotator whose first few labels happened to disagree would be rated far below the
others and never asked again, one whose first few agreed far above them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from assay.labeling.aggregation import ConsensusResult

MIN_GOLD = 3  # gold answers an annotator needs before gold accuracy is their quality
PRIOR = 5.0  # labels' worth of weight the overall quality has in a per-kind quality


@dataclass(frozen=True, kw_only=True)
class Plan:
    """``needed``: items whose number of labels needed changes, and to what;
    ``quality``: per annotator, over all items; ``kind_quality``: per item kind, per
    annotator; ``min_quality``: per item of ``needed``, the least quality (for its
    kind) an annotator needs to give a label beyond min_labels."""

    needed: dict[str, int] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    kind_quality: dict[str, dict[str, float]] = field(default_factory=dict)
    min_quality: dict[str, float] = field(default_factory=dict)


def item_kind(kind: str, data: Mapping[str, Any]) -> str:
    """The kind of an item for annotator quality: its ``group``, else its item kind."""
    group = data.get("group")
    return str(group) if group is not None and str(group) != "" else kind


def plan(
    labels: pd.DataFrame,
    needed: Mapping[str, int],
    *,
    min_labels: int,
    overlap: int,
    confidence: float,
    gold: pd.DataFrame | None = None,
    method: str = "auto",
    kinds: Mapping[str, str] | None = None,
    budget: float | None = None,
) -> Plan:
    """``labels``: item, worker, label (the done labels of non-gold and gold items);
    ``needed``: each non-gold item's current need; ``gold``: item, label; ``kinds``:
    item -> kind (default: one kind, ``item``); ``budget``: share of overlap x items."""
    from assay.labeling.aggregation import aggregate

    if labels.empty:
        return Plan()
    result = aggregate(labels, method, gold if gold is not None and len(gold) else None)
    kinds = kinds or {}
    quality = overall_quality(result.workers)
    kind_quality = kind_quality_of(labels, result, quality, kinds)
    done = {str(k): int(v) for k, v in labels.groupby("item").size().items()}
    changes = _asks(
        result,
        needed,
        done,
        min_labels=min_labels,
        overlap=overlap,
        confidence=confidence,
        spend=budget is not None,
    )
    changes = _within(changes, needed, done, overlap=overlap, budget=budget, workers=len(quality))
    floors = {kind: _median(values) for kind, values in kind_quality.items()}
    min_quality = {}
    for item in changes:
        floor = floors.get(kinds.get(item, "item"))
        if floor is not None:
            min_quality[item] = floor
    return Plan(needed=changes, quality=quality, kind_quality=kind_quality, min_quality=min_quality)


def _asks(
    result: ConsensusResult,
    needed: Mapping[str, int],
    done: Mapping[str, int],
    *,
    min_labels: int,
    overlap: int,
    confidence: float,
    spend: bool,
) -> dict[str, int]:
    """Each item's new need: min_labels at least; one more for an item whose labels are
    all in and whose posterior is below ``confidence`` (any item below ``overlap`` when
    there is a budget to ``spend``). Least confident first."""
    sure = dict(zip(result.labels["item"], result.labels["confidence"].astype(float), strict=True))
    base: dict[str, int] = {}
    extra: list[tuple[float, str]] = []
    for item, now in needed.items():
        count = done.get(item, 0)
        want = max(min_labels, now)
        if want != now:
            base[item] = want
        unsure = sure.get(item, 0.0) < confidence or spend
        if count >= want and count < overlap and unsure:
            extra.append((sure.get(item, 0.0), item))
    extra.sort()
    return {**base, **{item: done.get(item, 0) + 1 for _, item in extra}}


def _within(
    changes: dict[str, int],
    needed: Mapping[str, int],
    done: Mapping[str, int],
    *,
    overlap: int,
    budget: float | None,
    workers: int,
) -> dict[str, int]:
    """The asks that fit: the ones to reach min_labels always; extra labels while the
    total stays within the budget, and, with a budget, while the open extra asks stay
    at most one per annotator (so the budget is spent where the answers coming in
    still leave items unsure, not all at once)."""
    committed = sum(max(done.get(i, 0), n) for i, n in needed.items())
    cap = math.inf if budget is None else math.floor(budget * overlap * len(needed))
    room = cap - committed
    open_asks = sum(1 for i, n in needed.items() if n > done.get(i, 0))
    slots = math.inf if budget is None else max(workers, 1) - open_asks
    kept: dict[str, int] = {}
    for item, want in changes.items():  # the minimum first, then least confident first
        grows = want - max(done.get(item, 0), needed[item])
        is_extra = done.get(item, 0) >= needed[item]
        if is_extra and (slots <= 0 or grows > room):
            continue
        kept[item] = want
        room -= max(grows, 0)
        slots -= 1 if is_extra else 0
    return kept


def _median(values: Mapping[str, float]) -> float | None:
    return float(np.median(list(values.values()))) if len(values) > 1 else None


def overall_quality(workers: pd.DataFrame) -> dict[str, float]:
    """Per annotator: gold accuracy after MIN_GOLD gold answers, else expected accuracy
    shrunk towards the crowd's (the mean over every label) with the weight of PRIOR
    labels, so an annotator with a few labels is rated near the crowd, not at an extreme
    that luck in those few labels put them at."""
    count = workers["labels"].to_numpy(dtype=float)
    estimated = workers["accuracy"].to_numpy(dtype=float)
    crowd = float((estimated * count).sum() / count.sum()) if count.sum() > 0 else 0.5
    value = (estimated * count + PRIOR * crowd) / (count + PRIOR)
    if "gold_labels" in workers:
        on_gold = workers["gold_labels"].to_numpy(dtype=float) >= MIN_GOLD
        gold = workers["gold_accuracy"].to_numpy(dtype=float)
        value = np.where(on_gold & np.isfinite(gold), gold, value)
    clipped = np.clip(value, 0.0, 1.0)
    return {str(w): float(q) for w, q in zip(workers["worker"], clipped, strict=True)}


def kind_quality_of(
    labels: pd.DataFrame,
    result: ConsensusResult,
    overall: Mapping[str, float],
    kinds: Mapping[str, str],
) -> dict[str, dict[str, float]]:
    """Per kind and annotator: expected accuracy on that kind's items (gold items count
    against their gold answer, as the fit fixes them), shrunk towards ``overall``."""
    posteriors = result.posteriors
    column = {c: i for i, c in enumerate(posteriors.columns)}
    row = {str(item): i for i, item in enumerate(posteriors.index)}
    values = posteriors.to_numpy()
    sums: dict[tuple[str, str], list[float]] = {}
    for item, worker, label in zip(labels["item"], labels["worker"], labels["label"], strict=True):
        agree = float(values[row[str(item)], column[label]])
        cell = sums.setdefault((kinds.get(str(item), "item"), str(worker)), [0.0, 0.0])
        cell[0] += agree
        cell[1] += 1.0
    out: dict[str, dict[str, float]] = {}
    for (kind, worker), (agree, count) in sorted(sums.items()):
        prior = overall.get(worker, 0.5)
        out.setdefault(kind, {})[worker] = (agree + PRIOR * prior) / (count + PRIOR)
    return out
