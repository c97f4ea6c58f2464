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


def group_heads(html: str) -> dict[str, str]:
    """A grouped table's group heads: {the head's id: its HTML}."""
    return dict(re.findall(r'<tr class="group-head" id="(g[0-9a-f]+)">(.*?)</tr>', html, re.S))


def statistics_of(client: TestClient, html: str) -> dict[str, tuple[str, list[str]]]:
    """What the table's statistics request answers: {group id: (count, [each column's
    figures])}, from the out-of-band swaps of the group heads' spans."""
    found = re.search(r'<span class="group-stats" hx-get="([^"]+)" hx-trigger="load"', html)
    assert found, "the grouped table asks for its groups' statistics"
    answer = client.get(found.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200
    swaps = re.findall(
        r'<span class="group-(?:count|stat)" id="(g[0-9a-f]+)-(n|\d+)" hx-swap-oob="true"[^>]*>'
        r"(.*?)</span>\n",
        answer.text,
    )
    out: dict[str, tuple[str, list[str]]] = {}
    for group, part, text in swaps:
        count, cells = out.get(group, ("", []))
        out[group] = (text, cells) if part == "n" else (count, [*cells, text])
    return out


def test_runs_table_groups_show_counts_and_stats_of_every_matching_run(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    """The groups' mean/min/max were of the page's 50 runs; at 100,000 runs a page says
    little about a group of thousands. The table shows the page's groups at once and
    asks for their figures over the whole filter apart, as for its exact count."""
    app = create_app(app_config)
    seed(app.state.assay.store)
    client = TestClient(app, base_url="http://assay.test")
    html = client.get(
        "/ui/projects/g/table",
        params={"filter": "summary.acc >= 10", "group": "config.opt", "columns": "summary.acc"},
    ).text
    heads = group_heads(html)
    assert len(heads) == 3
    for head in heads.values():  # until they load: the page's runs' figures, no count
        assert '<span class="group-count pending"' in head and ">…</span>" in head
        assert "on this page" in head and 'class="group-stat pending"' in head
        assert 'hx-preserve="true"' in head  # a refresh keeps the figures it had
    figures = statistics_of(client, html)
    assert figures.keys() == heads.keys()
    want = expected("opt")
    for group, head in heads.items():
        opt = re.search(r"<strong>(\w+)</strong>", head).group(1)  # type: ignore[union-attr]
        count, mean, low, high = want[opt]
        assert figures[group][0] == str(count)
        (acc,) = figures[group][1]
        assert f">{fmt(mean)}</span>" in acc and f"{low:g}" in acc and f"{high:g}" in acc


def test_group_statistics_never_land_in_a_table_refiltered_since(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    """A group head's id names the filter, group key and columns its figures are over:
    an answer for another filter (a table the user has refiltered since) swaps nothing
    into the table shown now."""
    app = create_app(app_config)
    seed(app.state.assay.store)
    client = TestClient(app, base_url="http://assay.test")
    params = {"group": "config.opt", "columns": "summary.acc"}
    broad = client.get("/ui/projects/g/table", params=params).text
    narrow = client.get("/ui/projects/g/table", params={**params, "filter": "summary.acc >= 10"})
    assert not group_heads(broad).keys() & group_heads(narrow.text).keys()
    assert statistics_of(client, broad).keys() == group_heads(broad).keys()


def test_a_group_shown_but_not_found_keeps_the_pages_figures_and_says_so(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    """A group no matching run has by the time its figures are asked for (its runs
    deleted since): its count reads "?" and the answer says the page's figures stay."""
    app = create_app(app_config)
    seed(app.state.assay.store, 6)
    client = TestClient(app, base_url="http://assay.test")
    params = {"group": "config.opt", "columns": "summary.acc", "shown": "g00000000"}
    answer = client.get("/ui/projects/g/groups", params=params).text
    assert '<span class="group-count" id="g00000000-n" hx-swap-oob="true"' in answer
    assert ">?</span>" in answer and "1 group of this page not found" in answer


def test_group_statistics_answer_the_groups_shown_however_many_there_are(
    app_config: ServerConfig,  # noqa: F811
) -> None:
    """Grouped by a key of 120 values, the page's 50 groups are answered, not the 1,000
    largest: each a group of one run here, its own figures."""
    app = create_app(app_config)
    seed(app.state.assay.store)
    client = TestClient(app, base_url="http://assay.test")
    html = client.get("/ui/projects/g/table", params={"group": "config.lr"}).text
    heads = group_heads(html)
    assert len(heads) == 50
    figures = statistics_of(client, html)
    assert figures.keys() == heads.keys() and {c for c, _ in figures.values()} == {"1"}


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
    # the page's runs' figures, final: nothing to ask for
    assert "group-stats" not in page.text and "pending" not in page.text
    asked = client.get("/ui/projects/g/groups", params={"group": "name", "shown": "g00"})
    assert asked.status_code == 200 and "hx-swap-oob" not in asked.text
