"""Inter-annotator agreement: Krippendorff's alpha (nominal), Fleiss' kappa, raw agreement.

Each statistic takes either a long table of labels (``item, worker, label`` columns) or an
items x categories table of counts (how many raters put each item in each category).

Fleiss' kappa is defined for items rated by the same number of raters. With unequal
counts this module computes the usual generalisation (each item's agreement uses its own
number of raters, items weigh equally, category shares pool all ratings); it equals
Fleiss' kappa when the counts are equal, and :class:`Agreement` says whether they were.
Items with fewer than two ratings carry no agreement and are left out of every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.labeling.data import encode


@dataclass(frozen=True)
class Agreement:
    items: int  # items with at least two ratings (the ones the statistics use)
    workers: int
    labels: int
    classes: int
    ratings_per_item: float  # mean, over the items used
    equal_raters: bool  # every item used has the same number of ratings
    percent_agreement: float  # share of agreeing pairs of ratings, averaged over items
    krippendorff_alpha: float
    fleiss_kappa: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _counts(
    data: Any, item_column: str = "item", worker_column: str = "worker", label_column: str = "label"
) -> np.ndarray:
    import pandas as pd

    if isinstance(data, pd.DataFrame) and item_column in data.columns:
        counts: np.ndarray = encode(data, None, item_column, worker_column, label_column).counts()
        return counts
    counts = np.asarray(data, dtype=np.float64)
    if counts.ndim != 2 or counts.size == 0:
        raise InvalidInput("agreement: expected a table of labels or an items x categories table")
    if (counts < 0).any():
        raise InvalidInput("agreement: counts must not be negative")
    return counts


def _pairable(counts: np.ndarray) -> np.ndarray:
    used: np.ndarray = counts[counts.sum(axis=1) >= 2]
    if len(used) == 0:
        raise InvalidInput("agreement: no item has two or more ratings")
    return used


def krippendorff_alpha(data: Any, **columns: str) -> float:
    """Nominal alpha, 1 - D_o / D_e from the coincidence matrix (Krippendorff 2011)."""
    counts = _pairable(_counts(data, **columns))
    m = counts.sum(axis=1)
    coincidence = (counts / (m - 1)[:, None]).T @ counts
    coincidence[np.diag_indices_from(coincidence)] -= (counts / (m - 1)[:, None]).sum(axis=0)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed = n - np.trace(coincidence)
    expected = (n * n - float(n_c @ n_c)) / (n - 1)
    if expected == 0:
        return 1.0  # one category throughout: no disagreement is possible
    return float(1 - observed / expected)


def fleiss_kappa(data: Any, **columns: str) -> float:
    """Fleiss' kappa (generalised to unequal rater counts as the module says)."""
    counts = _pairable(_counts(data, **columns))
    m = counts.sum(axis=1)
    per_item = ((counts * counts).sum(axis=1) - m) / (m * (m - 1))
    shares = counts.sum(axis=0) / m.sum()
    chance = float(shares @ shares)
    if chance == 1:
        return 1.0
    return float((per_item.mean() - chance) / (1 - chance))


def percent_agreement(data: Any, **columns: str) -> float:
    counts = _pairable(_counts(data, **columns))
    m = counts.sum(axis=1)
    return float((((counts * counts).sum(axis=1) - m) / (m * (m - 1))).mean())


def agreement(
    df: Any, item_column: str = "item", worker_column: str = "worker", label_column: str = "label"
) -> Agreement:
    """Every statistic of this module for a long table of labels."""
    enc = encode(df, None, item_column, worker_column, label_column)
    counts = enc.counts()
    used = _pairable(counts)
    raters = used.sum(axis=1)
    return Agreement(
        items=len(used),
        workers=enc.n_workers,
        labels=round(float(enc.weight.sum())),
        classes=enc.n_classes,
        ratings_per_item=float(raters.mean()),
        equal_raters=bool(np.allclose(raters, raters[0])),
        percent_agreement=percent_agreement(counts),
        krippendorff_alpha=krippendorff_alpha(counts),
        fleiss_kappa=fleiss_kappa(counts),
    )
