"""The UI at scale on both SQL backends: the runs list of a project of thousands of runs
pages, sorts, filters and groups them in SQL (a page of 50 runs is all that is read into
Python, in as many queries as for a project of ten), and the run page of a run with
10,000 metric keys renders a page of its summary. Runs are written in bulk by the
benchmark's seeder (bench/ui_seed.py), itself checked here against the write path."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from bench import ui_seed
from starlette.testclient import TestClient

from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.store.sql.runs import SqlRuns
from assay.store.sql.store import SqlStore
from tests.test_ui_charts import app_config, statements  # noqa: F401  (the fixture: both backends)
from tests.test_ui_groups import group_heads, statistics_of
from tests.test_ui_routes import many_keys, page

RUNS = 3_000
OPTS = ("adam", "sgd", "rmsprop", "adagrad")


def spec(i: int) -> ui_seed.RunSpec:
    rng = random.Random(i)
    config = {"opt": OPTS[i % 4], "depth": 1 + i % 8, "lr": rng.random()}
    return f"run-{i}", config, {"acc": i / RUNS, "loss": 1 - i / RUNS, "m2": rng.random()}


@contextmanager
def hydrated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many runs each read builds into records (the rows materialised in Python)."""
    sizes: list[int] = []
    original = SqlRuns._hydrate

    def counting(self: SqlRuns, conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> Any:
        sizes.append(len(rows))
        return original(self, conn, rows)

    with monkeypatch.context() as patch:
        patch.setattr(SqlRuns, "_hydrate", counting)
        yield sizes


def big_project(app_config: ServerConfig) -> tuple[TestClient, SqlStore]:  # noqa: F811
    app = create_app(app_config)
    store: SqlStore = app.state.assay.store
    ui_seed.bulk_assay(store, "big", RUNS, spec, 1_000_000.0)
    ui_seed.bulk_assay(store, "small", 10, lambda i: spec(RUNS - 10 + i), 1_000_000.0)
    return TestClient(app, base_url="http://assay.test"), store


def names(html: str) -> list[str]:
    return re.findall(r'<td class="run-name">.*?<a href="/runs/[^"]+">([^<]+)</a>', html)


def test_bulk_seeded_runs_read_back_like_runs_written_one_batch_at_a_time(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    store = create_app(app_config).state.assay.store
    ui_seed.check_assay(store, "check", spec, 1_000_000.0)


def test_runs_list_of_thousands_of_runs_reads_one_page_of_them(
    app_config: ServerConfig,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = big_project(app_config)
    page(client, "/projects/small")  # warm: the app's first queries
    with hydrated(monkeypatch) as sizes:
        html = page(client, "/projects/big")
    assert sizes == [50]  # never every run of the project
    assert '<span id="run-count">3000 runs</span>' in html and "page 1 of 60" in html
    assert names(html)[:2] == ["run-2999", "run-2998"] and len(names(html)) == 50
    last = page(client, "/ui/projects/big/table?page=60")
    assert names(last)[-1] == "run-0" and len(names(last)) == 50
    beyond = page(client, "/ui/projects/big/table?page=61")  # past the end: no runs, no error
    assert names(beyond) == [] and "3000 runs" in beyond
    # sorted and filtered in SQL: the best 50 of the 1,500 runs that match
    query = "/ui/projects/big/table?filter=summary.acc+>%3D+0.5&sort=-summary.loss"
    with hydrated(monkeypatch) as sizes:
        found = page(client, query)
    assert sizes == [50] and names(found)[:3] == ["run-1500", "run-1501", "run-1502"]
    # more runs match than the table counts at once: it says so, and asks for the count
    counting = '/ui/projects/big/count?filter=summary.acc+%3E%3D+0.5&amp;sort=-summary.loss"'
    assert "more than 500 runs" in found and f'hx-get="{counting}' in found
    assert "page 1</span>" in found and 'rel="next"' in found
    counted = page(client, counting.rstrip('"').replace("&amp;", "&"))
    assert counted.strip() == '<span id="run-count">1500 runs</span>'
    narrow = page(client, "/ui/projects/big/table?filter=summary.acc+>%3D+0.9&sort=name")
    assert '<span id="run-count">300 runs</span>' in narrow and "page 1 of 6" in narrow


def test_grouped_runs_list_counts_every_run_yet_reads_one_page(
    app_config: ServerConfig,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, store = big_project(app_config)
    params = "?filter=summary.acc+>%3D+0.5&group=config.opt&columns=summary.acc,config.lr"
    page(client, f"/ui/projects/small/table{params}")  # warm
    with statements(store) as small:
        small_html = page(client, f"/ui/projects/small/table{params}")
        statistics_of(client, small_html)
    with statements(store) as big, hydrated(monkeypatch) as sizes:
        html = page(client, f"/ui/projects/big/table{params}")
        figures = statistics_of(client, html)  # the group statistics, asked for apart
    assert sizes == [50]
    assert len(big) <= len(small)  # no more queries for 3,000 runs than for ten
    heads = {
        re.search(r"<strong>(\w+)</strong>", h).group(1): g  # type: ignore[union-attr]
        for g, h in group_heads(html).items()
    }
    # the page's 50 newest matching runs fall in all four groups; each counts its 375
    assert {opt: figures[g][0] for opt, g in heads.items()} == dict.fromkeys(OPTS, "375")
    acc = [i / RUNS for i in range(1500, RUNS) if i % 4 == 0]
    adam = figures[heads["adam"]][1][0]  # summary.acc: over the whole filter, not the page
    assert f"{min(acc):.4g}\u2013{max(acc):.4g}" in adam


def test_grouped_page_does_not_wait_for_its_group_statistics(
    app_config: ServerConfig,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The grouped page read every matching run for its groups' figures before it
    answered (363 ms at 100,000 runs); it reads its page, and the figures are a
    request of their own."""
    client, _ = big_project(app_config)
    asked: list[str] = []
    original = SqlRuns.group_stats

    def counting(self: SqlRuns, *args: Any, **kwargs: Any) -> Any:
        asked.append(args[2])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SqlRuns, "group_stats", counting)
    html = page(client, "/ui/projects/big/table?group=config.opt&sort=-summary.acc")
    assert asked == [] and len(group_heads(html)) == 4
    statistics_of(client, html)
    assert asked == ["config.opt"]


def test_run_page_of_10000_keys_renders_a_page_of_its_summary(
    app_config: ServerConfig,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run of 10,000 metric keys made the run page fail (a 239,000-character URL for
    its charts, HTTP 400); it renders, with the first 100 of its summary rows."""
    app = create_app(app_config)
    run_id = many_keys(app.state.assay.store, 10_000)
    client = TestClient(app, base_url="http://assay.test")
    with hydrated(monkeypatch) as sizes:
        html = page(client, f"/runs/{run_id}")
    assert sizes == [1]
    rows = re.findall(r'<tr data-key="([^"]+)"', html)
    assert rows[:2] == ["loss", "m00000"] and len(rows) == 100
    assert "keys 1 to 100 of 10,001" in html and "m09999" not in html
    found = page(client, f"/ui/runs/{run_id}/summary?q=m09999")
    assert re.findall(r'<tr data-key="([^"]+)"', found) == ["m09999"]


@pytest.mark.parametrize(
    ("filter", "order"),
    [
        ("summary.acc >= 0.5", ("-summary.loss",)),
        ("config.opt == 'sgd' and summary.m2 < 0.5", ("config.lr",)),
        ("summary.acc > 2", ()),
        (None, ("name",)),
    ],
)
def test_a_page_and_its_total_are_the_count_and_list_of_the_filter(
    app_config: ServerConfig,  # noqa: F811
    filter: str | None,
    order: tuple[str, ...],
) -> None:
    """The runs table's page and total of a filter, found by a walk of an index or by
    one pass over the runs (store/sql/runs_page.py), are what count and list say."""
    store: SqlStore = create_app(app_config).state.assay.store
    ui_seed.bulk_assay(store, "p", 200, lambda i: spec(i * 15), 1_000_000.0)
    total = store.runs.count("p", filter)
    for offset in (0, 40, 180, 400):
        with statements(store) as seen:
            found, runs = store.runs.page("p", filter, order, 50, offset)
        assert found == total
        assert [r.id for r in runs] == [
            r.id for r in store.runs.list("p", filter, order, 50, offset)
        ]
        assert len(seen) <= 8  # never a query per run
