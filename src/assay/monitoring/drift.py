"""``drift(reference, current)``: which columns changed, with a window verdict whose
family-wise false-alarm rate is at most ``alpha`` (Holm's step-down over the tested
columns), and every column that could not be tested named in ``problems``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from assay.errors import InvalidInput
from assay.monitoring import effects
from assay.monitoring.columns import MISSING_LABEL
from assay.monitoring.profile import MAX_EXACT
from assay.monitoring.report import render_summary
from assay.monitoring.sides import Side, sides_of
from assay.monitoring.stattests import chi_square, holm, ks_test, merge_rare

MIN_ROWS = 30  # a side with fewer rows is too small to judge
MAX_LEVELS = 20  # a whole-number column with at most this many values is tested as labels
SCHEMA_STATUSES = frozenset({"only_in_reference", "only_in_current", "type_changed"})
_GROUP = {"float": "number", "integer": "number"}


@dataclass(frozen=True)
class Levels:
    """What a column's test must resolve: ``threshold`` is Holm's first level (alpha over
    the columns), ``gate`` its last (alpha); a p-value above ``gate`` never rejects."""

    threshold: float
    gate: float


@dataclass
class FeatureDrift:
    """The verdict on one column. ``status`` is "tested" or names why it was not tested."""

    name: str
    status: str
    kind: str | None = None  # "numeric", "categorical", "text" or "missingness"
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None  # Holm-adjusted; drifted when <= alpha
    drifted: bool = False
    psi: float | None = None
    wasserstein: float | None = None  # in reference standard deviations
    jensen_shannon: float | None = None
    reference_rows: int = 0
    current_rows: int = 0
    reference_missing: float | None = None  # fraction
    current_missing: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}


@dataclass
class DriftReport:
    """``drifted`` is the window verdict; ``features`` maps column name to its verdict."""

    drifted: bool
    alpha: float
    features: dict[str, FeatureDrift]
    problems: list[str]
    method: str = "holm"
    reference_rows: int = 0
    current_rows: int = 0

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, f in self.features.items() if f.drifted]

    @property
    def tested(self) -> int:
        return sum(f.status == "tested" for f in self.features.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "alpha": self.alpha,
            "method": self.method,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "tested": self.tested,
            "drifted_features": self.drifted_features,
            "problems": list(self.problems),
            "features": {name: f.to_dict() for name, f in self.features.items()},
        }

    def summary(self) -> str:
        return render_summary(self)

    def __str__(self) -> str:
        return self.summary()


def drift(
    reference: Any,
    current: Any,
    alpha: float = 0.01,
    columns: list[str] | None = None,
    min_rows: int = MIN_ROWS,
) -> DriftReport:
    """Compare ``current`` with ``reference`` (each a DataFrame, an Arrow table or a Profile).

    The window is drifted when Holm's procedure rejects any column at family-wise level
    ``alpha``, or when the schema changed (a column on one side only, a changed type).
    """
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be between 0 and 1, got {alpha}")
    ref, cur = sides_of(reference, columns), sides_of(current, columns)
    names = list(dict.fromkeys([*ref, *cur]))
    if columns is not None:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise InvalidInput(f"no such column on either side: {', '.join(unknown)}")
    threshold = alpha / max(1, len(names))
    levels = Levels(threshold=threshold, gate=alpha)
    features = {n: compare(n, ref.get(n), cur.get(n), min_rows, levels) for n in names}
    _decide(features, alpha)
    problems = [f"{f.name}: {note}" for f in features.values() for note in f.notes]
    if names and not any(f.status == "tested" for f in features.values()):
        problems.append("no column could be tested: the window was not judged")
    return DriftReport(
        drifted=any(f.drifted for f in features.values()),
        alpha=alpha,
        features=features,
        problems=problems,
        reference_rows=_rows(ref),
        current_rows=_rows(cur),
    )


def _rows(sides: dict[str, Side]) -> int:
    return max((s.rows for s in sides.values()), default=0)


def _decide(features: dict[str, FeatureDrift], alpha: float) -> None:
    tested = {n: f.p_value for n, f in features.items() if f.status == "tested"}
    rejected, adjusted = holm({n: p for n, p in tested.items() if p is not None}, alpha)
    for name, feature in features.items():
        if name in adjusted:
            feature.p_adjusted = adjusted[name]
            feature.drifted = rejected[name]
        elif feature.status in SCHEMA_STATUSES:
            feature.drifted = True


def compare(
    name: str, ref: Side | None, cur: Side | None, min_rows: int, levels: Levels
) -> FeatureDrift:
    """The verdict on one column before the multiple-testing step."""
    if ref is None or cur is None:
        status = "only_in_current" if ref is None else "only_in_reference"
        where = "current" if ref is None else "reference"
        return FeatureDrift(name, status, notes=[f"present in the {where} data only"])
    out = FeatureDrift(
        name, "tested", reference_rows=ref.rows, current_rows=cur.rows,
        reference_missing=_share(ref.missing, ref.rows),
        current_missing=_share(cur.missing, cur.rows),
    )  # fmt: skip
    reason = _untestable(ref, cur, min_rows)
    if reason is not None:
        out.status, note = reason
        out.notes.append(note)
        return out
    if ref.present == 0 or cur.present == 0:
        return _missingness(out, ref, cur, levels)
    plan = _plan(ref, cur)
    if plan == "categorical":
        return _categorical(out, ref, cur, levels)
    return _numeric(out, ref, cur, plan)


def _untestable(ref: Side, cur: Side, min_rows: int) -> tuple[str, str] | None:
    if "unsupported" in (ref.kind, cur.kind):
        return "unsupported", "values of a type drift does not test (complex or nested)"
    changed = _GROUP.get(ref.kind, ref.kind) != _GROUP.get(cur.kind, cur.kind)
    if changed and ref.present and cur.present:  # an all-missing column has no real type
        return "type_changed", f"type changed from {ref.kind} to {cur.kind}"
    if min(ref.rows, cur.rows) < min_rows:
        which = "current" if cur.rows < min_rows else "reference"
        rows = min(ref.rows, cur.rows)
        return "too_small", f"{which} window too small to judge ({rows} rows, need {min_rows})"
    if ref.present == 0 and cur.present == 0:
        return "all_missing", "all values missing on both sides"
    if _constant_alike(ref, cur):
        return "constant", "constant, the same single value on both sides"
    return None


def _constant_alike(ref: Side, cur: Side) -> bool:
    if ref.missing or cur.missing:
        return False
    if ref.kind in ("boolean", "string"):
        a, b = ref.counts, cur.counts
        return a is not None and b is not None and len(a) == 1 and a.keys() == b.keys()
    x, y = ref.numbers, cur.numbers
    return (
        x is not None and y is not None and len(x.values) == 1 and len(y.values) == 1
        and x.values[0] == y.values[0]
    )  # fmt: skip


def _plan(ref: Side, cur: Side) -> str:
    """ "categorical", "numeric" or "text" for a pair of columns of compatible types."""
    if ref.kind == "boolean":
        return "categorical"
    counts = ref.counts
    if ref.kind == "integer" and cur.kind == "integer":
        few = counts is not None and len(counts) <= MAX_LEVELS
        return "categorical" if few and cur.counts is not None else "numeric"
    if ref.kind == "string":
        limit = min(MAX_EXACT, max(MAX_LEVELS, ref.present // 2))
        few = counts is not None and len(counts) <= limit
        return "categorical" if few and cur.counts is not None else "text"
    return "numeric"


def _numeric(out: FeatureDrift, ref: Side, cur: Side, plan: str) -> FeatureDrift:
    a, b = ref.numbers, cur.numbers
    if a is None or b is None:  # a string column profiled without lengths: cannot happen
        out.status = "unsupported"
        out.notes.append("no numbers to compare")
        return out
    out.kind, out.test = plan, "kolmogorov-smirnov" + (" (lengths)" if plan == "text" else "")
    out.statistic, out.p_value = ks_test(a, b)
    if a.eps or b.eps:
        out.test += " (sketch-adjusted)"
    out.psi = effects.numeric_psi(a, b)
    std = ref.std
    out.wasserstein = None if std is None else effects.wasserstein(a, b, std)
    if len(a.values) == 1:
        out.notes.append("constant in the reference")
    if plan == "text" and cur.counts is None and ref.counts is not None:
        out.notes.append("more distinct values than the profile counts exactly")
    return out


def _categorical(out: FeatureDrift, ref: Side, cur: Side, levels: Levels) -> FeatureDrift:
    a, b = _with_missing(ref), _with_missing(cur)
    table = merge_rare(a, b)
    out.kind = "categorical"
    out.statistic, out.p_value, out.test = chi_square(table, levels.threshold, levels.gate)
    out.psi = effects.label_psi(a, b)
    out.jensen_shannon = effects.jensen_shannon(a, b)
    if len(ref.counts or {}) == 1:
        out.notes.append("constant in the reference")
    return out


def _missingness(out: FeatureDrift, ref: Side, cur: Side, levels: Levels) -> FeatureDrift:
    """One side has only missing values: test the missing rate (2 x 2) and say so."""
    a = {MISSING_LABEL: ref.missing, "<present>": ref.present}
    b = {MISSING_LABEL: cur.missing, "<present>": cur.present}
    out.kind = "missingness"
    table = merge_rare(a, b)
    out.statistic, out.p_value, out.test = chi_square(table, levels.threshold, levels.gate)
    out.psi = effects.label_psi(a, b)
    which = "reference" if ref.present == 0 else "current"
    out.notes.append(f"all values missing in the {which} data; tested the missing rate only")
    return out


def _with_missing(side: Side) -> dict[str, int]:
    counts = dict(side.counts or {})
    if side.missing:
        counts[MISSING_LABEL] = counts.get(MISSING_LABEL, 0) + side.missing
    return counts


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
