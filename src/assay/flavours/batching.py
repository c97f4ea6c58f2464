"""Batches: ``@assay.batched`` for functions that take a list of items, and rows turned
into the 2-D feature array (or DataFrame) array-taking models expect.

Feature columns are the model's own ``feature_names_in_`` when it has them (given to
scikit-learn as a DataFrame with those names); else every column but the skipped ones,
without the optional (slice) columns when the model's ``n_features_in_`` counts them
out; a single column holding a vector is that vector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from assay.errors import InvalidInput
from assay.flavours.flavour import Columns, Rows

F = TypeVar("F", bound=Callable[..., Any])


def batched(fn: F | None = None, *, size: int = 32) -> Any:
    """Mark a function that takes a list of items and returns one output per item:
    ``@assay.batched`` or ``@assay.batched(size=64)``."""

    def mark(inner: F) -> F:
        inner.__assay_batch_size__ = size  # type: ignore[attr-defined]
        return inner

    return mark(fn) if fn is not None else mark


def feature_columns(rows: Rows, model: Any, columns: Columns) -> list[str]:
    """The feature columns: the model's ``feature_names_in_`` when it has them; else every
    column but ``skip`` (label, id, cluster), and without the ``optional`` (slice) columns
    when the model's ``n_features_in_`` says it takes that many fewer."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        wanted = [str(n) for n in names]
        missing = [c for c in wanted if c not in rows[0]]
        if missing:
            raise InvalidInput(f"the model needs columns the data lacks: {', '.join(missing[:5])}")
        return wanted
    found = [c for c in rows[0] if c not in columns.skip]
    expected = getattr(model, "n_features_in_", None)
    fewer = [c for c in found if c not in columns.optional]
    if isinstance(expected, int) and expected != len(found) and expected == len(fewer):
        return fewer
    return found


def features(rows: Rows, model: Any, columns: Columns) -> Any:
    """The rows' features as a 2-D float array."""
    import numpy as np

    chosen = feature_columns(rows, model, columns)
    if len(chosen) == 1 and isinstance(rows[0][chosen[0]], Sequence | np.ndarray):
        return np.asarray([row[chosen[0]] for row in rows], dtype=float)
    try:
        return np.asarray([[row[c] for c in chosen] for row in rows], dtype=float)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            f"the feature columns ({', '.join(chosen[:5])}…) are not all numbers: {exc}"
        ) from None


def named(x: Any, model: Any) -> Any:
    """The features as a DataFrame with the model's column names when it was fitted on one
    (scikit-learn warns when such a model is given a bare array), else as they are."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or x.ndim != 2 or x.shape[1] != len(names):
        return x
    try:
        import pandas as pd
    except ImportError:  # fitted on another kind of frame: the array still predicts
        return x
    return pd.DataFrame(x, columns=list(names))
