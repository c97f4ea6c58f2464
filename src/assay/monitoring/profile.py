"""Profiles: a mergeable, serialisable summary of a table, one entry per column.

Numbers keep a KLL quantile sketch (datasketches) with count, min, max, mean and variance;
labels (booleans, strings, whole numbers) keep exact counts up to ``MAX_EXACT`` distinct
values, then strings move to a frequent-items sketch; strings also keep a sketch of their
lengths. ``a.merge(b)`` is the profile of both tables together (within the sketch's rank
error), so a day is the merge of its hours.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidInput
from assay.monitoring.columns import (
    NUMERIC_KINDS,
    Column,
    as_frame,
    integer_labels,
    label_counts,
    read_columns,
)
from assay.monitoring.stattests import StepCdf, ks_distance

DEFAULT_K = 400  # KLL accuracy: a normalised rank error of about 0.7% (99th percentile)
MAX_EXACT = 1000  # distinct labels counted exactly
FREQUENT_LG_K = 10  # frequent-items sketch of up to 2**10 tracked strings
FORMAT = "assay.profile"
VERSION = 1


@dataclass
class Moments:
    """Count, mean, sum of squared deviations, min and max; merged with Chan's formula."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> Moments:
        if len(values) == 0:
            return cls()
        with np.errstate(over="ignore", invalid="ignore"):  # infinite values: inf/nan moments
            mean = float(values.mean())
            m2 = float(((values - mean) ** 2).sum())
        return cls(len(values), mean, m2, float(values.min()), float(values.max()))

    def merge(self, other: Moments) -> Moments:
        n = self.count + other.count
        if n == 0:
            return Moments()
        if self.count == 0 or other.count == 0:
            return self if other.count == 0 else other
        with np.errstate(over="ignore", invalid="ignore"):  # infinite values
            delta = other.mean - self.mean
            mean = self.mean + delta * other.count / n
            m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(n, mean, m2, min(self.low, other.low), max(self.high, other.high))

    @property
    def variance(self) -> float:
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        finite = self.count > 0
        return {
            "count": self.count,
            "mean": self.mean if finite else None,
            "m2": self.m2,
            "min": self.low if finite else None,
            "max": self.high if finite else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Moments:
        if not d["count"]:
            return cls()
        return cls(int(d["count"]), float(d["mean"]), float(d["m2"]), d["min"], d["max"])


@dataclass
class Numbers:
    """A quantile sketch and moments of a column's numbers (or of its strings' lengths).

    ``measured_error`` is the sketch's actual largest CDF error, measured against the data
    when the sketch is built; a merged sketch has none and falls back to the sketch's
    published bound (the 99th percentile of that error over many trials).
    """

    sketch: Any  # datasketches.kll_doubles_sketch
    moments: Moments
    measured_error: float | None = None

    @classmethod
    def of(cls, values: NDArray[np.float64], k: int, whole: bool = False) -> Numbers:
        """``whole``: the values are whole numbers (counted rather than sorted when the
        sketch's error is measured)."""
        from datasketches import kll_doubles_sketch

        sketch = kll_doubles_sketch(k)
        if len(values):
            sketch.update(np.ascontiguousarray(values, dtype=np.float64))
        numbers = cls(sketch, Moments.of(values))
        if sketch.is_estimation_mode():
            exact = StepCdf.exact(values, len(values), whole=whole)
            numbers.measured_error = ks_distance(numbers.cdf(len(values)), exact)
        return numbers

    def merge(self, other: Numbers) -> Numbers:
        sketch = self.sketch.__copy__()
        sketch.merge(other.sketch)
        return Numbers(sketch, self.moments.merge(other.moments))

    @property
    def rank_error(self) -> float:
        """How far the sketch's CDF may be from the data's: 0 while it holds every value,
        the measured error for a sketch built here, else the sketch's published bound."""
        if not self.sketch.is_estimation_mode():
            return 0.0
        bound = float(self.sketch.normalized_rank_error(False))
        return bound if self.measured_error is None else min(bound, self.measured_error)

    def cdf(self, rows: int) -> StepCdf:
        """The sketch's step CDF (retained items and weights) over ``rows`` rows."""
        items: list[tuple[float, int]] = list(self.sketch)
        pairs = np.asarray(items, dtype=np.float64).reshape(-1, 2)
        return StepCdf.weighted(pairs[:, 0], pairs[:, 1], rows, self.rank_error)

    def to_dict(self) -> dict[str, Any]:
        sketch = base64.b64encode(self.sketch.serialize()).decode()
        return {"kll": sketch, "measured_error": self.measured_error, **self.moments.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Numbers:
        from datasketches import kll_doubles_sketch

        sketch = kll_doubles_sketch.deserialize(base64.b64decode(d["kll"]))
        measured = d.get("measured_error")
        return cls(sketch, Moments.from_dict(d), None if measured is None else float(measured))


@dataclass(kw_only=True)
class ColumnProfile:
    """One column of a profile. ``counts`` is None once there were too many distinct labels."""

    name: str
    kind: str
    rows: int
    missing: int
    numbers: Numbers | None = None  # numbers; for strings, their lengths
    counts: dict[str, int] | None = None
    frequent: Any = None  # datasketches.frequent_strings_sketch, once counts overflowed
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def top(self, n: int = 10) -> list[tuple[str, int]]:
        """The most frequent labels with their (estimated, once overflowed) counts."""
        if self.counts is not None:
            return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        if self.frequent is None:
            return []
        from datasketches import frequent_items_error_type

        rows = self.frequent.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        return [(str(r[0]), int(r[1])) for r in rows[:n]]

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        kind = _merged_kind(self, other)
        numbers = _merge_numbers(self.numbers, other.numbers)
        counts, frequent = _merge_labels(self, other, kind)
        return ColumnProfile(
            name=self.name,
            kind=kind,
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            numbers=numbers,
            counts=counts,
            frequent=frequent,
        )

    def to_dict(self) -> dict[str, Any]:
        frequent = None
        if self.frequent is not None:
            frequent = base64.b64encode(self.frequent.serialize()).decode()
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "missing": self.missing,
            "numbers": None if self.numbers is None else self.numbers.to_dict(),
            "counts": self.counts,
            "frequent": frequent,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        frequent = None
        if d.get("frequent"):
            from datasketches import frequent_strings_sketch

            frequent = frequent_strings_sketch.deserialize(base64.b64decode(d["frequent"]))
        numbers = None if d.get("numbers") is None else Numbers.from_dict(d["numbers"])
        raw = d.get("counts")
        counts = None if raw is None else {str(k): int(v) for k, v in raw.items()}
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            rows=int(d["rows"]),
            missing=int(d["missing"]),
            numbers=numbers,
            counts=counts,
            frequent=frequent,
        )


def _merged_kind(a: ColumnProfile, b: ColumnProfile) -> str:
    if a.kind == b.kind or b.present == 0:
        return a.kind
    if a.present == 0:
        return b.kind
    if {a.kind, b.kind} == {"float", "integer"}:
        return "float"
    raise InvalidInput(f"column {a.name!r} is {a.kind} in one profile and {b.kind} in the other")


def _merge_numbers(a: Numbers | None, b: Numbers | None) -> Numbers | None:
    if a is None or b is None:
        return a if b is None else b
    return a.merge(b)


def _merge_labels(a: ColumnProfile, b: ColumnProfile, kind: str) -> tuple[Any, Any]:
    if kind == "float":
        return None, None
    a_counts = {} if a.present == 0 else a.counts
    b_counts = {} if b.present == 0 else b.counts
    if a_counts is not None and b_counts is not None:
        counts = dict(a_counts)
        for key, value in b_counts.items():
            counts[key] = counts.get(key, 0) + value
        if len(counts) <= MAX_EXACT:
            return counts, None
        return None, _frequent_of(counts) if kind == "string" else None
    if kind != "string":
        return None, None
    frequent = _frequent_of({})
    for side in (a, b):
        if side.frequent is not None:
            frequent.merge(side.frequent)
        elif side.counts:
            frequent.merge(_frequent_of(side.counts))
    return None, frequent


def _frequent_of(counts: dict[str, int]) -> Any:
    from datasketches import frequent_strings_sketch

    sketch = frequent_strings_sketch(FREQUENT_LG_K)
    for key, value in counts.items():
        sketch.update(key, value)
    return sketch


def column_profile(column: Column, k: int = DEFAULT_K) -> ColumnProfile:
    """The profile of one column read by ``read_columns``."""
    name, kind, rows, missing = column.name, column.kind, column.rows, column.missing
    if kind in NUMERIC_KINDS:
        assert column.numbers is not None
        numbers = Numbers.of(column.numbers, k, whole=kind == "integer")
        counts = integer_labels(column.numbers, MAX_EXACT) if kind == "integer" else None
        return ColumnProfile(
            name=name, kind=kind, rows=rows, missing=missing, numbers=numbers, counts=counts
        )
    if column.labels is None:
        return ColumnProfile(name=name, kind=kind, rows=rows, missing=missing)
    counts = label_counts(column.labels)
    lengths = None
    if kind == "string":
        lengths = Numbers.of(column.labels.str.len().to_numpy(dtype=np.float64), k, whole=True)
    if len(counts) <= MAX_EXACT:
        return ColumnProfile(
            name=name, kind=kind, rows=rows, missing=missing, numbers=lengths, counts=counts
        )
    return ColumnProfile(
        name=name,
        kind=kind,
        rows=rows,
        missing=missing,
        numbers=lengths,
        counts=None,
        frequent=_frequent_of(counts),
    )


class Profile:
    """A summary of a table that merges (a day is the sum of its hours) and serialises."""

    def __init__(self, columns: dict[str, ColumnProfile], rows: int) -> None:
        self.columns = columns
        self.rows = rows

    def __repr__(self) -> str:
        return f"Profile(rows={self.rows}, columns={list(self.columns)})"

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise InvalidInput(f"the profile has no column {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def merge(self, other: Profile) -> Profile:
        """The profile of both tables; a column absent from one counts as missing there."""
        merged: dict[str, ColumnProfile] = {}
        for name in dict.fromkeys([*self.columns, *other.columns]):
            a = self.columns.get(name) or _absent(name, self.rows)
            b = other.columns.get(name) or _absent(name, other.rows)
            merged[name] = a.merge(b)
        return Profile(merged, self.rows + other.rows)

    @classmethod
    def merge_all(cls, profiles: Iterable[Profile]) -> Profile:
        items = list(profiles)
        if not items:
            raise InvalidInput("merge_all needs at least one profile")
        result = items[0]
        for item in items[1:]:
            result = result.merge(item)
        return result

    def to_dict(self) -> dict[str, Any]:
        columns = [c.to_dict() for c in self.columns.values()]
        return {"format": FORMAT, "version": VERSION, "rows": self.rows, "columns": columns}

    def to_bytes(self) -> bytes:
        """UTF-8 JSON (sketches as base64); what an artifact of type ``profile`` will hold."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InvalidInput("not an Assay profile (no 'format': 'assay.profile')")
        if d.get("version") != VERSION:
            raise InvalidInput(f"profile version {d.get('version')} is not {VERSION}")
        try:
            columns = [ColumnProfile.from_dict(c) for c in d["columns"]]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InvalidInput(f"damaged profile: {exc}") from exc
        return cls({c.name: c for c in columns}, int(d["rows"]))

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"not an Assay profile: {exc}") from exc
        return cls.from_dict(parsed)


def _absent(name: str, rows: int) -> ColumnProfile:
    return ColumnProfile(name=name, kind="float", rows=rows, missing=rows)


def profile(data: Any, k: int = DEFAULT_K, columns: list[str] | None = None) -> Profile:
    """The profile of a pandas DataFrame or an Arrow table (``k``: KLL sketch accuracy)."""
    if not 8 <= k <= 65535:
        raise InvalidInput(f"k must be between 8 and 65535, got {k}")
    read = read_columns(data, columns)
    rows = read[0].rows if read else len(as_frame(data))
    return Profile({c.name: column_profile(c, k) for c in read}, rows)
