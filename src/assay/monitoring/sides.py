"""One column of one side of a drift check, from raw data or from a profile.

Both kinds answer the same questions, computed on first use: the step CDF of the numbers
(of the string lengths for strings), exact label counts when known, the standard deviation.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any

import numpy as np

from assay.monitoring.columns import NUMERIC_KINDS, Column, label_counts
from assay.monitoring.profile import MAX_EXACT, ColumnProfile
from assay.monitoring.stattests import StepCdf


class Side(ABC):
    """One column of one side of a comparison: raw data (RawSide) or a profile
    (ProfileSide), read the same way by the tests."""

    name: str
    kind: str
    rows: int
    missing: int

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    @abstractmethod
    def numbers(self) -> StepCdf | None:
        """The distribution of the numbers (or string lengths), if the column has one."""

    @property
    @abstractmethod
    def counts(self) -> dict[str, int] | None:
        """Counts per label, for a categorical column."""

    @property
    @abstractmethod
    def std(self) -> float | None:
        """The standard deviation of the numbers, if any."""


class RawSide(Side):
    def __init__(self, column: Column) -> None:
        self.column = column
        self.name, self.kind = column.name, column.kind
        self.rows, self.missing = column.rows, column.missing

    @cached_property
    def numbers(self) -> StepCdf | None:
        if self.column.numbers is not None:
            whole = self.kind == "integer"
            return StepCdf.exact(self.column.numbers, self.rows, whole=whole)
        if self.kind == "string" and self.column.labels is not None:
            lengths = self.column.labels.str.len().to_numpy(dtype=np.float64)
            return StepCdf.exact(lengths, self.rows, whole=True)
        return None

    @cached_property
    def counts(self) -> dict[str, int] | None:
        if self.column.labels is not None:
            return label_counts(self.column.labels)
        cdf = self.numbers
        if self.kind != "integer" or cdf is None or len(cdf.values) > MAX_EXACT:
            return None
        sizes = np.diff(np.concatenate(([0], np.rint(cdf.cum * cdf.present).astype(np.int64))))
        return {str(int(v)): int(c) for v, c in zip(cdf.values, sizes, strict=True)}

    @cached_property
    def std(self) -> float | None:
        values = self.column.numbers
        if values is None:
            cdf = self.numbers
            return None if cdf is None else _step_std(cdf)
        if len(values) < 2:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.std(values, ddof=1))


class ProfileSide(Side):
    def __init__(self, column: ColumnProfile) -> None:
        self.column = column
        self.name, self.kind = column.name, column.kind
        self.rows, self.missing = column.rows, column.missing

    @cached_property
    def numbers(self) -> StepCdf | None:
        summary = self.column.numbers
        if summary is None or self.kind not in NUMERIC_KINDS | {"string"}:
            return None
        cached: StepCdf | None = self.column._cache.get("cdf")
        if cached is None:
            cached = summary.cdf(self.rows)
            self.column._cache["cdf"] = cached
        return cached

    @cached_property
    def counts(self) -> dict[str, int] | None:
        return self.column.counts

    @cached_property
    def std(self) -> float | None:
        summary = self.column.numbers
        if summary is None or summary.moments.count < 2:
            return None
        return math.sqrt(summary.moments.variance)


def _step_std(cdf: StepCdf) -> float | None:
    if cdf.present < 2:
        return None
    weights = np.diff(np.concatenate(([0.0], cdf.cum)))
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.sum(weights * cdf.values))
        return math.sqrt(float(np.sum(weights * (cdf.values - mean) ** 2)))


def sides_of(data: Any, columns: list[str] | None) -> dict[str, Side]:
    """Each column of a DataFrame, an Arrow table or a Profile as a ``Side``."""
    from assay.monitoring.columns import read_columns
    from assay.monitoring.profile import Profile

    if isinstance(data, Profile):
        wanted = data.columns if columns is None else [c for c in data.columns if c in columns]
        return {name: ProfileSide(data.columns[name]) for name in wanted}
    return {c.name: RawSide(c) for c in read_columns(data, columns)}
