"""A DataFrame or an Arrow table as typed columns: the one place that reads user data.

Kinds: ``float`` and ``integer`` (numbers; a float column whose values are all whole is an
``integer`` column, which is what pandas makes of an integer column with a missing value),
``datetime`` (nanoseconds since the epoch, tested as numbers), ``boolean``, ``string``
(strings, categoricals and mixed objects, compared as labels) and ``unsupported`` (complex
numbers, nested values), which is profiled as counts only and named in drift reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidInput

NUMERIC_KINDS = frozenset({"float", "integer", "datetime"})
LABEL_KINDS = frozenset({"boolean", "string"})
MISSING_LABEL = "<missing>"


@dataclass(frozen=True)
class Column:
    """One column: its kind, its size and its non-missing values."""

    name: str
    kind: str
    rows: int
    missing: int
    numbers: NDArray[np.float64] | None = None  # float/integer/datetime, missing removed
    labels: Any = None  # a pandas Series of str (boolean/string), missing removed


def read_columns(data: Any, columns: list[str] | None = None) -> list[Column]:
    """The columns of ``data`` (a pandas DataFrame or an Arrow table), optionally a subset."""
    frame = as_frame(data)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"duplicate column names: {', '.join(dupes)}")
    if columns is not None:
        frame = frame[[c for c in frame.columns if str(c) in set(columns)]]
    return [read_column(str(name), frame[name]) for name in frame.columns]


def as_frame(data: Any) -> Any:
    """A pandas DataFrame from a DataFrame, an Arrow table or record batch."""
    module = type(data).__module__
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(data, pa.Table | pa.RecordBatch):
            return data.to_pandas()
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    raise InvalidInput(
        f"expected a pandas DataFrame, an Arrow table or a Profile, got {type(data).__name__}"
    )


def read_column(name: str, series: Any) -> Column:
    from pandas.api import types as pt

    dtype = series.dtype
    rows = len(series)
    if pt.is_bool_dtype(dtype):
        present = series.dropna()
        labels = present.map({True: "true", False: "false"}).astype(str)
        return Column(name, "boolean", rows, rows - len(present), labels=labels)
    if pt.is_datetime64_any_dtype(dtype):
        stamps = series.to_numpy(dtype="datetime64[ns]")
        present = stamps[~np.isnat(stamps)].view(np.int64).astype(np.float64)
        return Column(name, "datetime", rows, rows - len(present), numbers=present)
    if pt.is_numeric_dtype(dtype) and not pt.is_complex_dtype(dtype):
        return _numeric_column(name, series, integer=pt.is_integer_dtype(dtype))
    if pt.is_complex_dtype(dtype):
        return Column(name, "unsupported", rows, int(series.isna().sum()))
    present = series.dropna()
    return Column(name, "string", rows, rows - len(present), labels=present.astype(str))


def _numeric_column(name: str, series: Any, integer: bool) -> Column:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    # -inf becomes the lowest finite number: -inf is where the tests put missing values
    present = np.maximum(values[~np.isnan(values)], -np.finfo(np.float64).max)
    kind = "integer" if integer or _all_whole(present) else "float"
    return Column(name, kind, len(values), len(values) - len(present), numbers=present)


def _all_whole(values: NDArray[np.float64]) -> bool:
    """Whether every value is a whole number (checks a sample first: most floats fail fast)."""
    if len(values) == 0:
        return False
    head = values[:256]
    if not np.all(np.isfinite(head)) or not np.array_equal(head, np.round(head)):
        return False
    return bool(np.all(np.isfinite(values)) and np.array_equal(values, np.round(values)))


def integer_labels(values: NDArray[np.float64], limit: int) -> dict[str, int] | None:
    """Exact counts of whole-number values as labels, or None past ``limit`` distinct."""
    uniques, counts = np.unique(values, return_counts=True)
    if len(uniques) > limit:
        return None
    return {str(int(u)): int(c) for u, c in zip(uniques, counts, strict=True)}


def label_counts(labels: Any) -> dict[str, int]:
    counts = labels.value_counts(sort=False)
    return {str(k): int(v) for k, v in counts.items()}
