"""What each page shows, computed from records; templates only lay it out."""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay import present
from assay.errors import FilterSyntaxError
from assay.records import MetricSummary, Run, duration, summary_of
from assay.store.sql.runs_groups import GroupStats, group_key
from assay.values import dotted

MAX_COMPARE = 50
MAX_PAGE = 200_000  # 10 million runs at 50 a page; a larger page number shows the last
MAX_GROUPS_SHOWN = 100  # groups a page of the runs table shows at most (50 runs: 50)
SUMMARY_PAGE = 100  # summary rows the run page shows at once; the rest are paged and searched


@dataclass(frozen=True)
class TableQuery:
    """The runs table's state, all of it in the query string (shareable URLs)."""

    filter: str = ""
    sort: str = "-created"
    columns: tuple[str, ...] = ()
    group: str = ""
    page: int = 1
    selected: tuple[str, ...] = ()
    deleted: bool = False  # the deleted runs (restorable until gc purges them) instead

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TableQuery:
        page = params.get("page", "1")
        return cls(
            filter=params.get("filter", "")[:4096],
            sort=params.get("sort", "-created")[:300] or "-created",
            columns=tuple(c for c in params.get("columns", "").split(",") if c)[:40],
            group=params.get("group", "")[:300],
            page=min(max(1, int(page)), MAX_PAGE) if page.isascii() and page.isdigit() else 1,
            selected=tuple(s for s in params.get("sel", "").split(",") if s)[:MAX_COMPARE],
            deleted=params.get("deleted") == "1",
        )

    @property
    def order(self) -> tuple[str, ...]:
        return (self.sort,)

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {
            "filter": self.filter,
            "sort": self.sort,
            "columns": ",".join(self.columns),
            "group": self.group,
            "page": self.page,
            "sel": ",".join(self.selected),
            "deleted": "1" if self.deleted else "",
        }
        values.update(changes)
        return {
            k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)
        }

    def sort_for(self, column: str) -> str:
        """Clicking a header: sort by it descending, or flip its direction."""
        return column if self.sort == f"-{column}" else f"-{column}"


@dataclass
class Group:
    value: Any
    runs: list[Run]  # the group's runs on this page
    stats: dict[str, tuple[float, float, float]]  # column -> (mean, min, max) of those runs
    count: int  # its runs on this page (the count over the whole filter is asked for apart)
    id: str = ""  # its head's id on the page (group_id)
    # True: ``stats`` are of the page's runs and ``count`` unknown until the statistics
    # over every matching run, asked for apart (/ui/projects/{p}/groups), replace them
    pending: bool = False


def group_id(query: TableQuery, columns: Sequence[str], value: Any) -> str:
    """The id of a group's head on the runs table: of its value and of what its
    statistics are over (filter, deleted runs or not, group key, columns), so that the
    statistics asked for by a table the user has refiltered since never land in the
    table shown now."""
    over = (query.filter, query.deleted, query.group, tuple(columns), repr(group_key(value)))
    return "g" + hashlib.blake2b(repr(over).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class GroupStatsAnswer:
    """The statistics of the groups a table shows, over every run the filter matches:
    (group id, count, column -> (mean, min, max)) for each group found, and the ids
    of those shown that no matching run has (their heads keep the page's figures)."""

    columns: list[str]
    found: list[tuple[str, int, dict[str, tuple[float, float, float]]]]
    missing: list[str]

    @classmethod
    def build(
        cls, query: TableQuery, shown: Sequence[str], whole: Sequence[GroupStats]
    ) -> GroupStatsAnswer:
        columns = list(query.columns)
        found = [(group_id(query, columns, g.value), g.count, dict(g.stats)) for g in whole]
        ids = {i for i, _, _ in found}
        return cls(columns, found, [i for i in shown if i not in ids])


@dataclass
class RunsTable:
    project: str
    query: TableQuery
    runs: list[Run]
    total: int
    page_size: int
    columns: list[str]
    groups: list[Group]
    error: FilterSyntaxError | None = None
    running: bool = False
    exact: bool = True  # False: ``total`` is a lower bound ("more than"), counted apart

    @classmethod
    def build(
        cls,
        project: str,
        query: TableQuery,
        runs: list[Run],
        total: int,
        page_size: int,
        *,
        error: FilterSyntaxError | None,
        columns: list[str] | None = None,
        counted_up_to: int | None = None,
        stats_apart: bool = False,
    ) -> RunsTable:
        """``total`` past ``counted_up_to`` means "more than ``counted_up_to``". With
        ``stats_apart``, the groups show the page's runs' figures until those over every
        matching run, asked for apart, replace them."""
        columns = columns or table_columns(query, runs)
        groups = group_runs(runs, query.group, columns) if query.group else []
        for g in groups:
            g.id, g.pending = group_id(query, columns, g.value), stats_apart
        running = any(r.status == "running" for r in runs)
        exact = counted_up_to is None or total <= counted_up_to
        total = total if counted_up_to is None else min(total, counted_up_to)
        return cls(project, query, runs, total, page_size, columns, groups, error, running, exact)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def stats_pending(self) -> bool:
        return any(g.pending for g in self.groups)

    def stats_params(self) -> dict[str, str]:
        """The query of the groups' statistics (/ui/projects/{p}/groups): the filter,
        group key and columns they are over, and the ids of the groups shown."""
        q = self.query
        params = {"filter": q.filter, "group": q.group, "columns": ",".join(self.columns)}
        params["deleted"] = "1" if q.deleted else ""
        params["shown"] = ",".join(g.id for g in self.groups)
        return {k: v for k, v in params.items() if v}

    @property
    def has_next(self) -> bool:
        """Whether a page follows (past a "more than" count: whenever this one is full)."""
        full = len(self.runs) == self.page_size
        return self.query.page < self.pages or (not self.exact and full)

    def value(self, run: Run, column: str) -> Any:
        return present.column_value(run, column)


GROUP_FIELDS = (("group", "run group"), ("job_type", "job type"), ("tags", "tags"))


def group_value(run: Run, key: str) -> Any:
    """What a run is grouped on: a config key (``config.a.b``), its group, job type, or its
    tags (a run with tags ``a`` and ``b`` is in group ``a, b``)."""
    if key == "tags":
        return ", ".join(sorted(run.tags)) or None
    if key in ("group", "job_type"):
        return getattr(run, key)
    return dotted(run.config).get(key.removeprefix("config."))


def table_columns(query: TableQuery, runs: list[Run]) -> list[str]:
    """The columns chosen in the URL, else the defaults for the runs on the page."""
    return list(query.columns) or default_columns(runs)


def group_runs(runs: list[Run], key: str, columns: list[str]) -> list[Group]:
    """Runs of the page grouped by a config key or a run field, each group's count and
    the mean/min/max of its numeric columns over the page's runs (those over every run
    the filter matches are computed by the store and asked for apart)."""
    buckets: dict[str, list[Run]] = {}
    values: dict[str, Any] = {}
    for run in runs:
        value = group_value(run, key)
        buckets.setdefault(repr(group_key(value)), []).append(run)
        values[repr(group_key(value))] = value
    groups = []
    for label, members in buckets.items():
        stats = {}
        for column in columns:
            numbers = [v for r in members if _number(v := present.column_value(r, column))]
            if numbers and not column.startswith("config."):
                stats[column] = (statistics.fmean(numbers), min(numbers), max(numbers))
        groups.append(Group(values[label], members, stats, len(members)))
    return groups


def default_columns(runs: list[Run], config_limit: int = 4, summary_limit: int = 5) -> list[str]:
    """The config keys whose values differ between the runs, then the summary keys most runs
    have (the metrics every training run logs before a key one odd run wrote), never
    ``system/*``."""
    seen: dict[str, list[str]] = {}
    for run in runs:
        for key, value in dotted(run.config).items():
            seen.setdefault(key, []).append(repr(value))
    # keys whose values differ between the runs that set them, those most runs set first
    # (a key only the odd run sets, or one every run sets alike, tells runs apart no better)
    differ = sorted((k for k, vs in seen.items() if len(set(vs)) > 1), key=lambda k: -len(seen[k]))
    varying = [f"config.{k}" for k in differ]
    counts: dict[str, int] = {}
    for run in runs:
        for key in summary_of(run):
            if not key.startswith("system/"):
                counts[key] = counts.get(key, 0) + 1
    common = sorted(counts, key=lambda k: (-counts[k], k))[:summary_limit]
    return varying[:config_limit] + [f"summary.{k}" for k in common]


def picker_keys(keys: list[str]) -> list[str]:
    """Summary keys for the column picker (the project's metrics and the keys its newest
    runs put in their summary without logging them): user keys before ``system/*``."""
    return sorted(keys, key=lambda k: (k.startswith("system/"), k))


@dataclass(frozen=True)
class SummaryPage:
    """One page of a run's summary (user keys; ``system/*`` ones are charted apart): the
    keys whose names hold every word of ``search`` (any case), ``SUMMARY_PAGE`` at a time,
    so a run of 10,000 keys shows as a page of rows rather than one huge table."""

    run_id: str
    rows: list[tuple[str, Any, MetricSummary | None]]  # (key, value, its series' summary)
    search: str
    page: int
    pages: int
    matched: int
    first: int  # 1-based position of the first row among the matches (0 when none)

    @classmethod
    def build(cls, run: Run, search: str = "", page: int = 1) -> SummaryPage:
        words = search.lower().split()
        merged = summary_of(run)
        keys = sorted(
            k for k in merged if not k.startswith("system/") and all(w in k.lower() for w in words)
        )
        pages = max(1, math.ceil(len(keys) / SUMMARY_PAGE))
        page = min(max(1, page), pages)
        chosen = keys[(page - 1) * SUMMARY_PAGE : page * SUMMARY_PAGE]
        return cls(
            run_id=run.id,
            rows=[(k, merged[k], run.metrics.get(k)) for k in chosen],
            search=search,
            page=page,
            pages=pages,
            matched=len(keys),
            first=(page - 1) * SUMMARY_PAGE + 1 if keys else 0,
        )


@dataclass
class RunPage:
    run: Run
    config_rows: list[tuple[str, int, str, Any]]  # (path, depth, name, leaf or None for a branch)
    summary: SummaryPage
    has_system: bool
    diff: str | None
    duration: float

    @classmethod
    def build(cls, run: Run, diff: str | None) -> RunPage:
        return cls(
            run=run,
            config_rows=tree_rows(run.config),
            summary=SummaryPage.build(run),
            has_system=any(k.startswith("system/") for k in run.metrics),
            diff=diff,
            duration=duration(run),
        )


def tree_rows(
    tree: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> list[tuple[str, int, str, Any]]:
    """A nested config flattened into rows for a searchable, indented table."""
    rows: list[tuple[str, int, str, Any]] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.append((path, depth, key, None))
            rows.extend(tree_rows(value, path + ".", depth + 1))
        else:
            rows.append((path, depth, key, value))
    return rows


@dataclass
class ComparePage:
    runs: list[Run]
    config_all: dict[str, list[Any]]
    config_diff: set[str]
    summary: dict[str, list[Any]]
    best: dict[str, int | None]
    metric_keys: list[str]
    numeric_config: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, runs: list[Run]) -> ComparePage:
        flat = [dotted(r.config) for r in runs]
        keys = sorted({k for f in flat for k in f})
        config_all = {k: [f.get(k) for f in flat] for k in keys}
        diff = set(present.differing([r.config for r in runs]))
        summaries = [summary_of(r) for r in runs]
        summary_keys = sorted({k for s in summaries for k in s if not k.startswith("system/")})
        summary = {k: [s.get(k) for s in summaries] for k in summary_keys}
        numeric = [k for k, vs in config_all.items() if any(_number(v) for v in vs)]
        return cls(
            runs=runs,
            config_all=config_all,
            config_diff=diff,
            summary=summary,
            best={k: present.best_index(v, k) for k, v in summary.items()},
            metric_keys=sorted({k for r in runs for k in r.metrics if not k.startswith("system/")}),
            numeric_config=numeric,
        )

    def parallel_data(self) -> dict[str, Any]:
        """Config values and summaries per run, for the parallel-coordinates plot."""
        return {
            "runs": [{"id": r.id, "name": r.name} for r in self.runs],
            "config": {k: [_plain(v) for v in vs] for k, vs in self.config_all.items()},
            "summary": {k: [_plain(v) for v in vs] for k, vs in self.summary.items()},
        }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)
