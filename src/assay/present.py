"""How runs are shown, shared by the shells (CLI tables and the web UI)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assay.errors import FilterSyntaxError
from assay.records import Run, duration, summary_of
from assay.values import dotted

LOWER_IS_BETTER = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "latency", "time")


# filter-language fields (docs/query.md) that name a differently spelled record field
_RUN_FIELDS = {"created": "created_at", "updated": "updated_at", "finished": "finished_at"}
_STATS = {"step": "last_step"}


@functools.lru_cache(maxsize=1024)  # a table asks for the same few columns per cell
def column_path(column: str) -> tuple[str, ...]:
    """A column as the filter language reads a field (``metrics.`val loss`.min`` ->
    ``("metrics", "val loss", "min")``); FilterSyntaxError names an unknown field."""
    from assay.query.filter import IsNull, parse_filter

    try:
        expr = parse_filter(f"{column} is null")
    except FilterSyntaxError as exc:
        raise FilterSyntaxError(exc.reason, column, min(exc.position, len(column))) from None
    if not isinstance(expr, IsNull) or expr.negate:
        raise FilterSyntaxError("a column is one field", column, 0)
    return expr.field.path


def field_value(run: Run, path: tuple[str, ...]) -> Any:
    """The value of a parsed filter-language field for one run (None when it has none)."""
    head, rest = path[0], path[1:]
    if head == "config":
        return _config_value(run.config, rest)
    if head == "summary":
        return summary_of(run).get(rest[0]) if rest else None
    if head == "metrics":
        metric = run.metrics.get(rest[0]) if len(rest) == 2 else None
        return None if metric is None else getattr(metric, _STATS.get(rest[1], rest[1]), None)
    if head == "duration":
        return duration(run)
    return getattr(run, _RUN_FIELDS.get(head, head), None)


def _config_value(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = config
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return dotted(config).get(".".join(path))
        node = node[key]
    return node


def column_value(run: Run, column: str) -> Any:
    """The value of ``config.a.b``, ``summary.key``, ``metrics.key.min``, or a run field
    (every field the filter language names), for one run; None for an unknown field."""
    try:
        path = column_path(column)
    except FilterSyntaxError:  # not a filter field: ``summary.a.b`` still reads key "a.b"
        head, _, rest = column.partition(".")
        if head in ("config", "summary"):
            return field_value(run, (head, rest))
        return getattr(run, column, None)
    return field_value(run, path)


def column_titles(columns: Sequence[str]) -> list[str]:
    """Short titles for columns (``lr`` for ``config.lr``), qualified only where two would
    read the same (``config.lr`` and ``summary.lr``)."""
    short = [_short(column) for column in columns]
    return [
        column if short.count(title) > 1 else title
        for column, title in zip(columns, short, strict=True)
    ]


def _short(column: str) -> str:
    head, dot, rest = column.partition(".")
    return rest if dot and head in ("config", "summary", "metrics") else column


def default_columns(
    runs: Iterable[Run], config_limit: int = 4, summary_limit: int = 4
) -> list[str]:
    """Config keys whose values differ between the runs, then the first summary keys."""
    seen: dict[str, set[str]] = {}
    summary_keys: list[str] = []
    for run in runs:
        for key, value in dotted(run.config).items():
            seen.setdefault(key, set()).add(repr(value))
        for key in summary_of(run):
            if not key.startswith("system/") and key not in summary_keys:
                summary_keys.append(key)
    varying = [f"config.{k}" for k, v in seen.items() if len(v) > 1][:config_limit]
    return varying + [f"summary.{k}" for k in sorted(summary_keys)[:summary_limit]]


def lower_is_better(key: str) -> bool:
    name = key.lower().rsplit("/", 1)[-1]
    return any(word in name for word in LOWER_IS_BETTER)


def best_index(values: list[Any], key: str) -> int | None:
    """Which of the values is best for this metric (lowest for losses, else highest)."""
    numbers = [(i, v) for i, v in enumerate(values) if _finite(v)]
    if len(numbers) < 2:
        return None
    pick = min if lower_is_better(key) else max
    return pick(numbers, key=lambda iv: iv[1])[0]


def differing(configs: list[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Dotted config keys whose values are not the same in every config."""
    flat = [dotted(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    rows = {k: [f.get(k) for f in flat] for k in keys}
    return {k: v for k, v in rows.items() if len({repr(x) for x in v}) > 1}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
