"""Every UI page and fragment without a browser: content, auth, CSRF, escaping."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from assay.ids import new_run_id
from assay.records import Batch, LogLines, UpdateRun
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.store.sql.store import SqlStore
from tests.conftest import create_op, points
from tests.test_ui_groups import group_heads, statistics_of

EVIL = "<script>alert('x')</script>"


def seed(store: SqlStore, project: str = "digits", n: int = 3, **extra: object) -> list[str]:
    ids = []
    for i in range(n):
        run_id = new_run_id()
        config = {
            "lr": 10.0 ** -(i + 1),
            "model": {"depth": i + 2},
            "opt": "sgd" if i % 2 else "adam",
        }
        op = create_op(
            project=project,
            name=f"run-{i}",
            created_at=time.time() - 100 + i,
            config=config,
            tags=["baseline"] if i else [],
            job_type="train",
            host={"hostname": "box", "argv": ["train.py"]},
        )
        ops = [
            op,
            points("val/acc", [0, 1, 2], [0.5, 0.6 + i / 10, 0.7 + i / 10]),
            points("train/loss", [0, 1, 2], [1.0, 0.5, 0.2 / (i + 1)]),
            LogLines(lines=[(time.time(), "stdout", f"epoch done {i}")]),
        ]
        if i < n - 1:
            ops.append(UpdateRun(at=time.time(), status="finished"))
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))
        ids.append(run_id)
    return ids


@pytest.fixture
def local(tmp_path: Path) -> tuple[TestClient, list[str]]:
    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    ids = seed(app.state.assay.store)
    return TestClient(app, base_url="http://assay.test"), ids


def page(client: TestClient, url: str, status: int = 200) -> str:
    response = client.get(url, headers={"accept": "text/html"})
    assert response.status_code == status, response.text[:500]
    return response.text


def test_projects_page_lists_projects(local: tuple[TestClient, list[str]]) -> None:
    client, _ = local
    html = page(client, "/")
    assert 'href="/projects/digits"' in html and ">3<" in html


def test_runs_page_shows_the_table_and_default_columns(local: tuple[TestClient, list[str]]) -> None:
    client, ids = local
    html = page(client, "/projects/digits")
    assert all(f'data-run-id="{i}"' in html for i in ids)
    assert "3 runs" in html and ">lr" in html and "val/acc" in html  # varying config + summary
    assert 'data-running="true"' in html and 'hx-trigger="every 3s"' in html  # live while running


def test_filter_sort_and_paging_live_in_the_query_string(
    local: tuple[TestClient, list[str]],
) -> None:
    client, ids = local
    html = page(client, "/ui/projects/digits/table?filter=config.lr+<+0.05&sort=config.lr")
    rows = re.findall(r'<tr data-run-id="([^"]+)"', html)
    assert rows == [ids[2], ids[1]]
    assert "sort=-config.lr" in html  # clicking the header again flips the direction
    html = page(
        client, "/ui/projects/digits/table?filter=%27baseline%27+in+tags&sort=-summary.val/acc"
    )
    assert re.findall(r'<tr data-run-id="([^"]+)"', html) == [ids[2], ids[1]]


def test_bad_filter_is_shown_inline_at_its_position(local: tuple[TestClient, list[str]]) -> None:
    client, _ = local
    html = page(client, "/projects/digits?filter=config.lr+%3C")
    assert 'class="filter-error"' in html and 'data-position="11"' in html and "0 runs" in html


def test_chosen_columns_and_groups(local: tuple[TestClient, list[str]]) -> None:
    client, _ = local
    html = page(
        client,
        "/ui/projects/digits/table?columns=config.model.depth,summary.train/loss&group=config.opt",
    )
    assert 'data-column="config.model.depth"' in html and 'data-column="summary.train/loss"' in html
    assert html.count('class="group-head"') == 2 and "<strong>adam</strong>" in html


def test_paging_beyond_one_page(tmp_path: Path) -> None:
    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    seed(app.state.assay.store, n=60)
    client = TestClient(app, base_url="http://assay.test")
    first = page(client, "/ui/projects/digits/table")
    assert "page 1 of 2" in first and len(re.findall(r"<tr data-run-id=", first)) == 50
    second = page(client, "/ui/projects/digits/table?page=2")
    assert len(re.findall(r"<tr data-run-id=", second)) == 10


def test_run_page_sections(local: tuple[TestClient, list[str]]) -> None:
    client, ids = local
    html = page(client, f"/runs/{ids[0]}")
    for needle in (
        'id="config-tree"',
        'data-path="model.depth"',
        "val/acc",
        'id="charts"',
        'data-kind="user"',  # the charts page the run's keys on the server
        "/ui/runs/",
        "No artifacts recorded",
        "train.py",
        'name="notes"',
    ):
        assert needle in html
    logs = page(client, f"/ui/runs/{ids[0]}/logs")
    assert "epoch done 0" in logs and "every 2s" not in logs  # finished: no polling
    assert "every 2s" in page(client, f"/ui/runs/{ids[2]}/logs")  # running: follow


def test_compare_page_shows_differences_and_marks_the_best(
    local: tuple[TestClient, list[str]],
) -> None:
    client, ids = local
    html = page(client, f"/compare?runs={ids[0]},{ids[1]}")
    assert '<tr class="differs" ><td>lr</td>' in html or 'class="differs"' in html
    table = html.split('id="summary-compare"')[1].split("</table>")[0]
    loss_row = re.search(r"<td>train/loss</td>(.*?)</tr>", table, re.S)
    assert loss_row and loss_row.group(1).index("best") > loss_row.group(1).index(
        "</td>"
    )  # 2nd is lower
    acc_row = re.search(r"<td>val/acc</td>(.*?)</tr>", table, re.S)
    assert acc_row and "best" in acc_row.group(1).split("</td>")[1]
    assert 'id="parallel-data"' in html
    assert "compare needs 2 to 50 runs" in page(client, f"/compare?runs={ids[0]}", status=400)


def test_series_data_for_charts(local: tuple[TestClient, list[str]]) -> None:
    client, ids = local
    data = client.get(f"/ui/api/series?runs={ids[0]},{ids[1]}&keys=val/acc").json()
    assert {s["run"] for s in data["series"]} == {ids[0], ids[1]}
    assert data["series"][0]["steps"] == [0, 1, 2]
    assert data["runs"][ids[0]]["status"] == "finished"
    zoom = client.get(f"/ui/api/series?runs={ids[0]}&keys=val/acc&start=1&end=1").json()
    assert zoom["series"][0]["steps"] == [1]


def series_post(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    client.get("/")  # the CSRF cookie
    response = client.post(
        "/ui/api/series", json=body, headers={"x-csrf-token": client.cookies["assay_csrf"]}
    )
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def many_keys(store: SqlStore, n: int) -> str:
    """A run of n metric keys (``m00000``..), ``loss`` and one ``system/cpu``."""
    run_id = new_run_id()
    keys = [f"m{i:05d}" for i in range(n)]
    ops: list[object] = [create_op(project="wide", name="wide")]
    ops += [points(k, [0, 1], [1.0, 2.0]) for k in [*keys, "loss", "system/cpu"]]
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))  # type: ignore[arg-type]
    return run_id


def test_series_of_a_run_with_10000_keys_are_paged_and_searched_never_dropped(
    tmp_path: Path,
) -> None:
    """Charts past the first 200 keys (``loss`` among them) were dropped silently, and the
    run page asked for all 10,000 in one URL (a 400). The POST variant pages and searches
    the keys on the server and says how many match."""
    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    run_id = many_keys(app.state.assay.store, 10_000)
    client = TestClient(app, base_url="http://assay.test")
    html = page(client, f"/runs/{run_id}")
    assert "data-keys=" not in html  # no list of 10,000 keys for the charts to send back
    first = series_post(client, {"runs": [run_id], "kind": "user", "limit": 24})
    assert first["matched"] == 10_001 and len(first["keys"]) == 24  # type: ignore[arg-type]
    assert {s["key"] for s in first["series"]} == set(first["keys"])  # type: ignore[attr-defined]
    last = series_post(client, {"runs": [run_id], "kind": "user", "offset": 9_984, "limit": 24})
    assert last["keys"][-1] == "m09999" and len(last["keys"]) == 17  # type: ignore[index]
    found = series_post(client, {"runs": [run_id], "kind": "user", "search": "LOSS"})
    assert found["keys"] == ["loss"] and found["matched"] == 1
    system = series_post(client, {"runs": [run_id], "kind": "system"})
    assert system["keys"] == ["system/cpu"]
    chosen = series_post(client, {"runs": [run_id], "keys": ["loss", "m00007"], "start": 1})
    assert sorted(s["key"] for s in chosen["series"]) == ["loss", "m00007"]  # type: ignore[attr-defined]
    # the GET route keeps working, and says how many keys there are beyond its answer
    got = client.get(f"/ui/api/series?runs={run_id}").json()
    assert len(got["keys"]) == 200 and got["matched"] == 10_002
    bad = client.post(
        "/ui/api/series",
        json={"runs": [run_id], "limit": 10_000},
        headers={"x-csrf-token": client.cookies["assay_csrf"]},
    )
    assert bad.status_code == 400
    assert client.post("/ui/api/series", json={"runs": [run_id]}).status_code == 403  # no CSRF


def test_run_page_of_10000_keys_shows_a_page_of_its_summary_and_searches_the_rest(
    tmp_path: Path,
) -> None:
    """The run page wrote all 10,000 summary rows into one 1.4 MB page; it shows a page of
    them, says how many there are, and pages and searches the rest on the server."""
    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    run_id = many_keys(app.state.assay.store, 10_000)
    client = TestClient(app, base_url="http://assay.test")
    html = page(client, f"/runs/{run_id}")
    rows = re.findall(r'<tr data-key="([^"]+)"', html)
    assert rows[:2] == ["loss", "m00000"] and len(rows) == 100
    assert "m09999" not in html and "keys 1 to 100 of 10,001" in html
    assert len(html) < 200_000
    found = page(client, f"/ui/runs/{run_id}/summary?q=LOSS")
    assert re.findall(r'<tr data-key="([^"]+)"', found) == ["loss"]
    last = page(client, f"/ui/runs/{run_id}/summary?page=101")
    assert re.findall(r'<tr data-key="([^"]+)"', last) == ["m09999"]
    assert "keys 10,001 to 10,001 of 10,001" in last
    beyond = page(client, f"/ui/runs/{run_id}/summary?page=999")  # past the end: the last page
    assert re.findall(r'<tr data-key="([^"]+)"', beyond) == ["m09999"]
    none = page(client, f"/ui/runs/{run_id}/summary?q=nothing+like+this")
    assert "No summary key matches" in none
    assert "system/cpu" not in page(client, f"/ui/runs/{run_id}/summary?q=cpu")


def test_runs_page_puts_user_metrics_first_and_system_charts_apart(tmp_path: Path) -> None:
    """Default columns: the config keys that differ and the metrics every run logs, before
    status and times; a summary key one odd run wrote does not crowd them out; system
    charts have their own collapsed section."""
    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    store = app.state.assay.store
    seed(store)
    odd = new_run_id()
    store.runs.write_batch(
        Batch(
            run_id=odd,
            writer="w",
            seq=0,
            ops=[
                create_op(
                    project="digits", name="labels", tags=["x"], group="sweep-1", job_type="labels"
                ),
                points("system/cpu", [0], [50.0]),
                UpdateRun(at=time.time(), summary={"a_votes": 3, "b_items": 4, "c_x": 1}),
            ],
        )
    )
    client = TestClient(app, base_url="http://assay.test")
    html = page(client, "/projects/digits")
    head = html.split("<thead>")[1].split("</thead>")[0]
    columns = re.findall(r'data-column="([^"]+)"', head)
    assert columns[0] == "name"
    assert columns.index("summary.val/acc") < columns.index("status")
    assert columns.index("config.lr") < columns.index("created")
    assert "summary.train/loss" in columns and not any("system/" in c for c in columns)
    assert 'id="system-box"' in html and 'data-kind="system" data-lazy' in html
    # the picker (its keys fetched when it is opened) offers summary-only keys, the chosen
    # columns checked; group by offers the run's group, tags, job type
    assert 'hx-get="/ui/projects/digits/picker?columns=' in html
    assert 'value="summary.a_votes"' not in html
    picker = page(client, "/ui/projects/digits/picker?columns=config.lr,summary.val/acc")
    assert 'value="summary.a_votes"' in picker and 'value="config.opt"' in picker
    assert 'value="summary.system/cpu"' in picker
    assert re.findall(r'value="([^"]+)" checked', picker) == ["config.lr", "summary.val/acc"]
    for field in ("group", "tags", "job_type"):
        assert f'<option value="{field}"' in html
    for group, counts in [("job_type", {"train": "3", "labels": "1"}), ("group", {"sweep-1": "1"})]:
        grouped = page(client, f"/ui/projects/digits/table?group={group}")
        figures = statistics_of(client, grouped)
        for head_id, head in group_heads(grouped).items():
            value = re.search(r"<strong>([^<]+)</strong>", head).group(1)  # type: ignore[union-attr]
            if value in counts:
                assert figures[head_id][0] == counts[value]


def test_compare_summary_columns_line_up_with_their_runs(
    local: tuple[TestClient, list[str]],
) -> None:
    """Values are right-aligned under right-aligned run names, and a nested value folds
    away instead of stretching its column across the page."""
    client, ids = local
    html = page(client, f"/compare?runs={ids[0]},{ids[1]}")
    table = html.split('id="summary-compare"')[1].split("</table>")[0]
    assert table.count('<th class="num">') == 2
    assert 'class="table-scroll"' in html


def test_static_files_are_cached_by_content_hash(local: tuple[TestClient, list[str]]) -> None:
    client, _ = local
    html = page(client, "/")
    url = re.search(r'src="(/static/[0-9a-f]{12}/vendor/htmx[^"]+)"', html)
    assert url is not None
    response = client.get(url.group(1))
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert client.get("/static/abc/../../etc/passwd").status_code == 404


def test_user_content_is_escaped(tmp_path: Path) -> None:
    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    store = app.state.assay.store
    run_id = new_run_id()
    op = create_op(name=EVIL, config={"act": EVIL, EVIL: 1}, tags=[EVIL], notes=EVIL)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=0,
            ops=[op, points("acc", [0], [1.0]), UpdateRun(at=time.time(), summary={"note": EVIL})],
        )
    )
    client = TestClient(app, base_url="http://assay.test")
    for url in (
        "/projects/p?columns=config.act,summary.note",
        f"/runs/{run_id}",
        f"/compare?runs={run_id},{run_id}",
    ):
        html = page(client, url)
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert" in html, url


# ---- auth ------------------------------------------------------------------------------


@pytest.fixture
def team(tmp_path: Path) -> tuple[TestClient, dict[str, str], list[str]]:
    app = create_app(ServerConfig(str(tmp_path / "s"), local=False))
    auth = app.state.assay.auth
    keys = {}
    for user, role in (("ann", "writer"), ("vic", "viewer")):
        auth.add_user(user)
        auth.grant(user, "digits", role)
        keys[user] = auth.create_key(user)[1]
    auth.add_user("bob")
    auth.grant("bob", "other", "writer")
    keys["bob"] = auth.create_key("bob")[1]
    ids = seed(app.state.assay.store)
    return TestClient(app, base_url="http://assay.test"), keys, ids


def sign_in(client: TestClient, key: str) -> None:
    client.get("/login")
    csrf = client.cookies["assay_csrf"]
    response = client.post(
        "/login", data={"key": key, "csrf": csrf, "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert "httponly" in response.headers["set-cookie"].lower()


def test_no_cookie_redirects_to_login(team: tuple[TestClient, dict[str, str], list[str]]) -> None:
    client, _, _ = team
    response = client.get("/projects/digits?filter=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fprojects%2Fdigits")
    assert client.get("/ui/api/series?runs=x").status_code == 401


def test_login_needs_a_valid_key_and_the_csrf_token(
    team: tuple[TestClient, dict[str, str], list[str]],
) -> None:
    client, keys, _ = team
    client.get("/login")
    csrf = client.cookies["assay_csrf"]
    bad = client.post("/login", data={"key": "ak_000000000000_" + "z" * 30, "csrf": csrf})
    assert bad.status_code == 401 and "not valid" in bad.text
    forged = client.post("/login", data={"key": keys["ann"], "csrf": "forged"})
    assert forged.status_code == 403
    missing_token = client.post("/login", data={"key": keys["ann"]})
    assert missing_token.status_code == 403
    elsewhere = client.post(
        "/login",
        data={"key": keys["ann"], "csrf": csrf, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/"


def test_viewer_sees_but_cannot_edit_notes(
    team: tuple[TestClient, dict[str, str], list[str]],
) -> None:
    client, keys, ids = team
    sign_in(client, keys["vic"])
    html = page(client, f"/runs/{ids[0]}")
    assert 'name="notes"' not in html and "No notes." in html
    csrf = client.cookies["assay_csrf"]
    response = client.post(
        f"/ui/runs/{ids[0]}/notes", data={"notes": "hi"}, headers={"x-csrf-token": csrf}
    )
    assert response.status_code == 403


def test_writer_edits_notes_with_csrf_only(
    team: tuple[TestClient, dict[str, str], list[str]],
) -> None:
    client, keys, ids = team
    sign_in(client, keys["ann"])
    assert 'name="notes"' in page(client, f"/runs/{ids[0]}")
    no_token = client.post(f"/ui/runs/{ids[0]}/notes", data={"notes": "sneaky"})
    assert no_token.status_code == 403
    csrf = client.cookies["assay_csrf"]
    ok = client.post(
        f"/ui/runs/{ids[0]}/notes", data={"notes": "tuned lr"}, headers={"x-csrf-token": csrf}
    )
    assert ok.status_code == 200 and "tuned lr" in ok.text
    assert "tuned lr" in page(client, f"/runs/{ids[0]}")


def test_wrong_project_is_forbidden(team: tuple[TestClient, dict[str, str], list[str]]) -> None:
    client, keys, ids = team
    sign_in(client, keys["bob"])
    assert "digits" not in page(client, "/")
    assert "needs the viewer role" in page(client, "/projects/digits", status=403)
    page(client, f"/runs/{ids[0]}", status=403)
    assert client.get(f"/ui/api/series?runs={ids[0]}").status_code == 403
    assert client.get("/ui/projects/digits/picker").status_code == 403  # not even its keys
    statistics = client.get("/ui/projects/digits/groups", params={"group": "config.opt"})
    assert statistics.status_code == 403  # nor its groups' figures
    assert client.get("/ui/projects/digits/count").status_code == 403


def test_an_image_panel_draws_every_box_of_every_layer_with_its_tag(tmp_path: Path) -> None:
    """The unnamed boxes as before (label and score), and each layer's boxes marked with
    their layer, tagged with the caption or the class's name and every score."""
    import numpy as np

    import assay
    from assay.sdk.media import send_batch
    from tests.conftest import create_run
    from tests.contract.test_media import media_batch

    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))
    store = app.state.assay.store
    run_id = create_run(store)
    layers = {
        "pred": {
            "boxes": [
                {"box": [0, 0, 4, 4], "class_id": 1, "scores": {"acc": 0.9, "loss": 0.25}},
                {"box": [2, 2, 8, 8], "caption": EVIL},
            ],
            "class_labels": {1: "cat"},
        },
        "truth": [{"box": [1, 1, 5, 5], "class_id": 7}],
    }
    pixels = np.zeros((10, 20, 3), np.uint8)
    images = {
        "flat": assay.Image(pixels, boxes=[{"box": [0, 0, 10, 5], "label": "dog", "score": 0.5}]),
        "layered": assay.Image(pixels, boxes=layers),
    }
    send_batch(store, media_batch(run_id, 1, images, 0))
    client = TestClient(app, base_url="http://assay.test")
    flat = page(client, f"/ui/runs/{run_id}/media/panel?key=flat")
    assert re.findall(r'class="media-box"[^>]*><em>([^<]*)</em>', flat) == ["dog 0.50"]
    html = page(client, f"/ui/runs/{run_id}/media/panel?key=layered")
    tags = re.findall(r'data-layer="(\w+)"[^>]*><em>([^<]*)</em>', html)
    assert tags == [
        ("pred", "cat acc 0.90 loss 0.25"),
        ("pred", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        ("truth", "class 7"),
    ]
    assert "boxes: pred, truth" in html and EVIL not in html
