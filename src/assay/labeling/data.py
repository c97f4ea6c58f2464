"""Check a table of crowd labels and encode it as sorted integer arrays.

Every method reads the same :class:`Encoded` form: items, workers and classes sorted by
value, one row per distinct (item, worker, label) in that order, so that the result does
not depend on the order of the input rows.

Duplicate rule: each (item, worker) pair is one vote. When a worker gave an item several
rows, the vote is split across them in proportion (``a, a, b`` counts 2/3 for ``a`` and
1/3 for ``b``; an exact repeat counts once). The result's ``warnings`` say how many pairs
this touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

SHOWN = 5  # how many offending values an error message names


@dataclass(frozen=True, kw_only=True)
class Encoded:
    """Labels as integer codes; rows sorted by (item, worker, label), one per distinct row."""

    items: np.ndarray  # item ids, sorted
    workers: np.ndarray  # worker ids, sorted
    classes: np.ndarray  # labels seen in the labels or in gold, sorted
    item: np.ndarray  # per row: index into items
    worker: np.ndarray  # per row: index into workers
    label: np.ndarray  # per row: index into classes
    weight: np.ndarray  # per row: share of the (item, worker) vote, summing to 1 per pair
    gold: np.ndarray  # per item: index of its gold class, or -1
    warnings: tuple[str, ...] = ()

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def counts(self) -> np.ndarray:
        """Items x classes: the (weighted) number of votes each class got on each item."""
        k = self.n_classes
        flat = np.bincount(self.item * k + self.label, self.weight, self.n_items * k)
        return flat.reshape(self.n_items, k)


def name_some(values: Iterable[Any]) -> str:
    """``'a', 'b' and 3 more`` for an error message."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:SHOWN])
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def require_columns(frame: Any, columns: Sequence[str], what: str) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise InvalidInput(f"{what}: missing column(s) {name_some(missing)} (columns: {have})")
    if len(frame) == 0:
        raise InvalidInput(f"{what}: the table has no rows")


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and sorted uniques; mixed types sort by (type name, text)."""
    import pandas as pd

    try:
        codes, uniques = pd.factorize(values, sort=True)
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)
    except TypeError:
        ordered = sorted(set(values.tolist()), key=lambda v: (type(v).__name__, str(v)))
        lookup = {v: i for i, v in enumerate(ordered)}
        codes = np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
        return codes, np.asarray(ordered, dtype=object)


def _harmonise(left: pd.Series, right: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Compare ``1`` and ``"1"`` as equal: if one side holds text, both become text."""
    from pandas.api.types import is_numeric_dtype

    if is_numeric_dtype(left.dtype) != is_numeric_dtype(right.dtype):
        return left.astype(str), right.astype(str)
    return left, right


def _no_missing(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    for column in columns:
        empty = int(frame[column].isna().sum())
        if empty:
            raise InvalidInput(f"{what}: {empty} row(s) have no value in column {column!r}")


def _labels_frame(df: Any, item: str, worker: str, label: str, notes: list[str]) -> pd.DataFrame:
    require_columns(df, [item, worker, label], "labels")
    frame: pd.DataFrame = df[[item, worker, label]].copy()
    frame.columns = ["item", "worker", "label"]
    _no_missing(frame, ["item", "worker"], "labels")
    blank = frame["label"].isna()
    if blank.any():
        notes.append(f"{int(blank.sum())} row(s) without a label were left out")
        frame = frame[~blank]
        if len(frame) == 0:
            raise InvalidInput("labels: no row has a label")
    return frame


def _gold_frame(gold: Any, item: str, label: str) -> pd.DataFrame:
    require_columns(gold, [item, label], "gold")
    frame: pd.DataFrame = gold[[item, label]].copy()
    frame.columns = ["item", "label"]
    _no_missing(frame, ["item", "label"], "gold")
    frame = frame.drop_duplicates()
    clash = frame["item"][frame["item"].duplicated()]
    if len(clash):
        raise InvalidInput(
            f"gold gives more than one label to item(s) {name_some(sorted(set(clash), key=str))}"
        )
    return frame


def _weights(
    item: np.ndarray, worker: np.ndarray, label: np.ndarray, n_workers: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Distinct sorted rows, each one's share of its (item, worker) vote, pairs repeated."""
    key = (item * n_workers + worker) * n_classes + label
    rows, counts = np.unique(key, return_counts=True)
    pair = rows // n_classes
    _, pair_index = np.unique(pair, return_inverse=True)
    per_pair = np.bincount(pair_index, counts)
    weight = (counts / per_pair[pair_index]).astype(np.float64)
    repeated = int(np.count_nonzero(per_pair > 1))
    return pair // n_workers, pair % n_workers, rows % n_classes, weight, repeated


def encode(
    df: Any,
    gold: Any = None,
    item_column: str = "item",
    worker_column: str = "worker",
    label_column: str = "label",
) -> Encoded:
    """Check ``df`` (and ``gold``) and encode them; raise InvalidInput naming what is wrong."""
    import pandas as pd

    notes: list[str] = []
    frame = _labels_frame(df, item_column, worker_column, label_column, notes)
    gold_frame = (
        _gold_frame(gold, item_column, label_column)
        if gold is not None
        else pd.DataFrame({"item": frame["item"][:0], "label": frame["label"][:0]})
    )
    items_all, gold_items = _harmonise(frame["item"], gold_frame["item"])
    labels_all, gold_labels = _harmonise(frame["label"], gold_frame["label"])
    item_codes, items = _sorted_codes(items_all)
    worker_codes, workers = _sorted_codes(frame["worker"])
    n_rows = len(labels_all)
    label_codes, classes = _sorted_codes(pd.concat([labels_all, gold_labels], ignore_index=True))
    gold_codes = label_codes[n_rows:]
    label_codes = label_codes[:n_rows]
    gold_index = _gold_index(items, gold_items, gold_codes)
    only_gold = sorted(set(gold_codes.tolist()) - set(label_codes.tolist()))
    if only_gold:
        notes.append(
            f"label(s) {name_some(classes[only_gold].tolist())} appear only in gold; "
            "they are kept for the gold items; no other item is given them (no worker used them)"
        )
    item, worker, label, weight, repeated = _weights(
        item_codes, worker_codes, label_codes, len(workers), len(classes)
    )
    if repeated:
        notes.append(
            f"{repeated} (item, worker) pair(s) had more than one row; each pair counts as one "
            "vote, split across its rows"
        )
    return Encoded(
        items=items,
        workers=workers,
        classes=classes,
        item=item,
        worker=worker,
        label=label,
        weight=weight,
        gold=gold_index,
        warnings=tuple(notes),
    )


def _gold_index(items: np.ndarray, gold_items: pd.Series, gold_codes: np.ndarray) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(items.tolist())}
    unknown = [v for v in gold_items.tolist() if v not in lookup]
    if unknown:
        raise InvalidInput(
            f"gold names {len(unknown)} item(s) that no worker labelled: {name_some(unknown)}"
        )
    index = np.full(len(items), -1, dtype=np.int64)
    positions = np.fromiter((lookup[v] for v in gold_items.tolist()), np.int64, len(gold_items))
    index[positions] = gold_codes
    return index
