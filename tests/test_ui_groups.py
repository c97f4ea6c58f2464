"""The runs table's groups on both SQL backends: each group's count and statistics cover
every run the filter matches, not only the 50 on the page."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from starlette.testclient import TestClient

from assay.errors import InvalidInput
from assay.ids import new_run_id
from assay.records import Batch
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.server.ui.display import fmt
from assay.store.sql.store import SqlStore
from tests.conftest import create_op, points
from tests.test_ui_charts import app_config  # noqa: F401  (the fixture, over both backends)

OPTS = ("adam", "sgd", "rmsprop")


def seed(store: SqlStore, n: int = 120) -> None:
    now = time.time() - n
    for i in range(n):
        op = create_op(
            project="g",
            name=f"r{i}",
            created_at=now + i,
            config={"opt": OPTS[i % 3], "flag": i % 2 == 0, "lr": i / 1000},
            tags=["b", "a"] if i % 2 == 0 else ["b"],
        )
        ops = [op, points("acc", [0, 1], [0.0, float(i)])]
        store.runs.write_batch(Batch(run_id=new_run_id(), writer="w", seq=0, ops=ops))  # type: ignore[arg-type]


def expected(key: object) -> dict[object, tuple[int, float, float, float]]:
    """(count, mean, min, max) of acc per group over runs with acc >= 10."""
    found: dict[object, list[float]] = {}
    for i in range(10, 120):
        value = {"opt": OPTS[i % 3], "flag": i % 2 == 0, "tags": "a, b" if i % 2 == 0 else "b"}
        found.setdefault(value[str(key)], []).append(float(i))
    return {k: (len(v), statistics.fmean(v), min(v), max(v)) for k, v in found.items()}


@pytest.mark.parametrize(
    ("group", "key"), [("config.opt", "opt"), ("tags", "tags"), ("config.flag", "flag")]
)
def test_group_statistics_cover_the_whole_filter(
    app_config: ServerConfig,  # noqa: F811
    group: str,
    key: str,
) -> None:
    app = create_app(app_config)
    store = app.state.assay.store
    seed(store)
    found = store.runs.group_stats("g", "summary.acc >= 10", group, ["summary.acc", "config.lr"])
    want = expected(key)
    assert len(found) == len(want)
    for g in found:
        value = bool(g.value) if key == "flag" else g.value  # SQLite reads booleans as 1/0
        count, mean, low, high = want[value]
        assert g.count == count
        assert g.stats["summary.acc"] == pytest.approx((mean, low, high))
        assert "config.lr" not in g.stats  # config columns label runs; they are not measures
    assert [g.count for g in found] == sorted((g.count for g in found), reverse=True)


def test_runs_table_groups_show_counts_and_stats_of_every_matching_run(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    """The groups' mean/min/max were of the page's 50 runs; at 100,000 runs a page says
    little about a group of thousands."""
    app = create_app(app_config)
    seed(app.state.assay.store)
    client = TestClient(app, base_url="http://assay.test")
    html = client.get(
        "/ui/projects/g/table",
        params={"filter": "summary.acc >= 10", "group": "config.opt", "columns": "summary.acc"},
    ).text
    heads = re.findall(r'<tr class="group-head">.*?</tr>', html, re.S)
    assert len(heads) == 3
    want = expected("opt")
    for head in heads:
        opt = re.search(r"<strong>(\w+)</strong>", head).group(1)  # type: ignore[union-attr]
        count, mean, low, high = want[opt]
        assert f'<span class="group-count">{count}</span>' in head
        assert f">{fmt(mean)}</span>" in head
        assert "on this page" in head  # 110 runs match, 50 are on the page
        assert f"{high:g}" in head and f"{low:g}" in head


def test_a_group_key_the_store_cannot_group_on_is_refused(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    app = create_app(app_config)
    store = app.state.assay.store
    seed(store, 3)
    with pytest.raises(InvalidInput, match="group by"):
        store.runs.group_stats("g", None, 'config.a"b', ["summary.acc"])
    client = TestClient(app, base_url="http://assay.test")
    page = client.get("/ui/projects/g/table", params={"group": "name"})
    assert page.status_code == 200 and page.text.count('class="group-head"') == 1
