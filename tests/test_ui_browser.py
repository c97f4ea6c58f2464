"""The UI in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser). Assertions read what the page exposes (rows, data attributes), not pixels.
A failing test leaves a screenshot in test-artifacts/; with ASSAY_SCREENSHOTS=DIR the
tests also save the screenshots docs/ui.md shows."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from tests.conftest import QUIET, create_op
from tests.services import missing
from tests.test_server_e2e import ServerProcess

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui") / "store"
    argv = sys.argv
    for lr, depth, opt in [
        (0.1, 2, "adam"),
        (0.01, 3, "sgd"),
        (0.001, 4, "sgd"),
        (0.05, 3, "adam"),
    ]:
        sys.argv = ["train.py", "--lr", str(lr), "--depth", str(depth)]  # what the runs record
        with assay.init(
            project="digits",
            config={"lr": lr, "model": {"depth": depth}, "opt": opt},
            tags=["baseline"] if opt == "sgd" else [],
            uri=root,
            settings=QUIET,
        ) as run:
            for step in range(200):
                run.log({"train/loss": 1.0 / (step + 1) + lr, "val/acc": 1 - 1.0 / (step + 2) - lr})
            run.summary["best_acc"] = 1 - lr
    sys.argv = argv
    _log_artifacts(root, tmp_path_factory.mktemp("files"))
    server = ServerProcess(str(root)).start()
    yield server.url
    server.stop()


def _log_artifacts(root: Path, files: Path) -> None:
    """A prep run makes a dataset (CSV + image); a training run uses it and makes a model,
    which is registered with @production."""
    import base64

    data = files / "data"
    data.mkdir()
    (data / "train.csv").write_text("pixel0,pixel1,label\n0,16,3\n5,2,7\n")
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
        "awAAAABJRU5ErkJggg=="
    )
    (data / "sample.png").write_bytes(base64.b64decode(png))
    (files / "model").mkdir()
    (files / "model" / "weights.json").write_text('{"w": [1, 2, 3]}')
    with assay.init(project="catalog", name="prep", uri=root, settings=QUIET) as run:
        run.log_artifact(data, name="digits-train", metadata={"rows": 2})
    with assay.init(project="catalog", name="train-best", uri=root, settings=QUIET) as run:
        run.use_artifact("digits-train:latest")
        run.log_artifact(files / "model", name="digits-model", type="model")
    assay.register_model("catalog/digits-model:v0", name="digits-classifier", uri=root)
    assay.models.set_alias("digits-classifier", "production", 1, reason="first model", uri=root)
    items = [{"id": i, "question": f"{i} + 1", "label": i + 1} for i in range(80)]
    baseline = assay.evaluate(
        lambda item: item["id"] + 1 if item["id"] != 7 else 0,
        items,
        ["accuracy"],
        label_column="label",
        id_column="id",
        project="catalog",
        uri=root,
        progress=False,
    )
    report = assay.evaluate(
        lambda item: item["id"] + 1 if item["id"] % 10 else -1,
        items,
        ["accuracy"],
        label_column="label",
        id_column="id",
        project="catalog",
        uri=root,
        progress=False,
        baseline=f"eval:{baseline.id}",
        name="arithmetic",
        tolerance={"accuracy": 0.01},
    )
    assay.models.set_alias(
        "digits-classifier", "production", 1, reason="kept", evidence=f"eval:{report.id}", uri=root
    )
    _traffic(root, files)


def _traffic(root: Path, files: Path) -> None:
    """A second model version as @candidate, a canary split, then a shadow added."""
    (files / "model" / "weights.json").write_text('{"w": [1, 2, 4]}')
    with assay.init(project="catalog", name="train-next", uri=root, settings=QUIET) as run:
        run.log_artifact(files / "model", name="digits-model-next", type="model")
    assay.register_model("catalog/digits-model-next:v0", name="digits-classifier", uri=root)
    assay.models.set_alias("digits-classifier", "candidate", 2, reason="next", uri=root)
    assay.models.set_traffic(
        "digits-classifier", {"production": 95, "candidate": 5}, reason="canary", uri=root
    )
    assay.models.set_traffic(
        "digits-classifier",
        {"production": 90, "candidate": 10},
        sticky="header:x-user-id",
        shadow={"1": 25},
        reason="wider canary, same users on the same version",
        uri=root,
    )
    _request_log(root)


def _request_log(root: Path) -> None:
    """What a server following that policy logs: 90 one-row requests answered by
    @production, 10 by @candidate (one of them a 400), and a 3-row request, over 3 hours."""
    from assay.records import RequestBatch, RequestEntry
    from assay.store import open_store

    now = time.time()
    entries = [
        RequestEntry(
            model="digits-classifier",
            request_id=f"r{i}",
            time=now - 3600 * (i % 3) - 60,
            version="2" if i % 10 == 0 else "1",
            arm="candidate" if i % 10 == 0 else "production",
            status=400 if i == 50 else 200,
            latency_ms=2.0 + (i % 7),
        )
        for i in range(100)
    ]
    entries.append(
        RequestEntry(
            model="digits-classifier",
            request_id="big",
            time=now - 30,
            version="1",
            arm="production",
            latency_ms=9.0,
            rows=3,
            inputs={"pixels": [[0.0], [1.0], [2.0]]},
        )
    )
    store = open_store(root)
    try:
        store.requests.write_batch(RequestBatch(writer="ui-test", seq=0, entries=entries))
        _announce(store)
    finally:
        store.close()


def _announce(store: Any) -> None:
    """Two servers as `assay serve` announces them: one live following the split, one
    that stopped beating long ago (killed without withdrawing)."""
    from assay.records import ModelServer, ServedModel

    def server(id: str, url: str, interval: float, arms: dict[str, int]) -> ModelServer:
        served = ServedModel(
            name="digits-classifier", uri="models:/digits-classifier@production", arms=arms
        )
        return ModelServer(
            id=id,
            url=url,
            host="box",
            pid=4242,
            models=[served],
            started_at=time.time(),
            interval=interval,
        )

    store.models.announce(server("dead", "http://10.0.0.9:5252", 0.001, {"production": 1}))
    arms = {"production": 1, "candidate": 2, "1": 1}
    store.models.announce(server("live", "http://127.0.0.1:5252", 3600.0, arms))


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def shoot(page: Any, name: str) -> None:
    target = os.environ.get("ASSAY_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"))


def rows(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#runs tr[data-run-id]", "els => els.map(e => e.dataset.runId)"
    )


def test_runs_table_filters_and_sorts(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/digits")
    page.wait_for_selector("#runs tr[data-run-id]")
    assert len(rows(page)) == 4
    shoot(page, "runs")
    page.fill("#filter", "config.lr < 0.05 and 'baseline' in tags")
    page.press("#filter", "Enter")
    page.wait_for_function("document.querySelectorAll('#runs tr[data-run-id]').length === 2")
    assert "filter=config.lr" in page.url  # the state is in the URL
    page.click("th a[data-column='summary.best_acc']")
    page.wait_for_function("location.search.includes('sort=-summary.best_acc')")
    names = page.eval_on_selector_all(
        "#runs tr[data-run-id] td.run-name", "e => e.map(x => x.textContent)"
    )
    assert len(names) == 2
    accs = page.eval_on_selector_all(
        "#runs tr[data-run-id] td[data-column='summary.best_acc']",
        "e => e.map(x => +x.textContent)",
    )
    assert accs == sorted(accs, reverse=True)


def test_column_picker_fetches_its_keys_when_opened_and_sets_the_columns(
    page: Any, site: str
) -> None:
    """Every metric key of a project is a pass over its summaries (a quarter of a second
    at 100,000 runs): the runs page no longer waits for them, the picker asks on opening."""
    page.goto(f"{site}/projects/digits")
    page.wait_for_selector("#runs tr[data-run-id]")
    assert page.locator(".picker input[type=checkbox]").count() == 0
    page.click(".picker summary")
    page.wait_for_selector(".picker input[value='summary.best_acc']")
    page.fill(".picker-search", "best")
    shown = page.eval_on_selector_all(
        ".picker label", "ls => ls.filter(l => !l.hidden).map(l => l.textContent.trim())"
    )
    assert shown == ["summary.best_acc"]
    box = page.locator(".picker input[value='summary.best_acc']")
    had = box.is_checked()
    box.click()
    page.wait_for_function(
        "has => !!document.querySelector(\"th a[data-column='summary.best_acc']\") === has",
        arg=not had,
    )
    assert "columns=" in page.url


def test_a_filter_of_many_runs_shows_more_than_then_the_exact_count(page: Any, site: str) -> None:
    """Past 500 matches the table does not wait for the count: it says "more than 500"
    and the exact count replaces it when its own request answers."""
    from assay.ids import new_run_id
    from assay.records import Batch, UpdateRun
    from assay.store import open_store

    store = open_store(site)
    batches = []
    for i in range(620):
        create = create_op(project="many", name=f"run-{i}")
        summary = UpdateRun(at=time.time(), summary={"acc": i / 620})
        batches.append(Batch(run_id=new_run_id(), writer="w", seq=0, ops=[create, summary]))
    for start in range(0, len(batches), 100):
        store.runs.write_batches(batches[start : start + 100])
    store.close()
    page.goto(f"{site}/projects/many?filter=summary.acc+>%3D+0.05&sort=-summary.acc")
    page.wait_for_function("document.querySelector('#run-count').textContent === '589 runs'")
    assert page.inner_text(".pager span") == "page 1"  # the table stays where it was
    assert page.locator("#runs tbody tr").count() == 50
    page.click(".pager a[rel=next]")
    page.wait_for_selector(".pager a[rel=prev]")
    assert "page=2" in page.url


def test_bad_filter_shows_the_position_inline(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/digits")
    page.fill("#filter", "config.lr <")
    page.press("#filter", "Enter")
    error = page.wait_for_selector(".filter-error")
    assert error.get_attribute("data-position") == "11"


def test_run_page_draws_its_charts(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/digits")
    page.click("#runs tr[data-run-id] td.run-name a")
    page.wait_for_selector("#charts .chart[data-key='val/acc'] canvas")
    chart = page.query_selector("#charts .chart[data-key='val/acc']")
    assert chart.get_attribute("data-series-count") == "1"
    assert chart.get_attribute("data-points") == "200"
    shoot(page, "run")


def test_compare_two_runs(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/digits")
    page.wait_for_selector(".select-run")
    boxes = page.query_selector_all(".select-run")
    boxes[0].check()
    boxes[1].check()
    page.wait_for_function("location.search.includes('sel=')")
    page.wait_for_selector("#charts .chart[data-series-count='2']")  # charts follow the selection
    page.click("#compare-link")
    page.wait_for_selector("#charts .chart[data-key='train/loss'] canvas")
    assert page.get_attribute("#charts .chart[data-key='train/loss']", "data-series-count") == "2"
    assert page.eval_on_selector_all("#config-diff tr.differs", "e => e.length") >= 1
    assert page.eval_on_selector_all("#summary-compare td.best", "e => e.length") >= 1
    page.wait_for_selector("#parallel[data-lines='2']")
    shoot(page, "compare")


def test_a_running_runs_chart_grows(page: Any, site: str) -> None:
    run = assay.init(
        project="digits",
        name="live-run",
        uri=site,
        settings=assay.Settings(**{**QUIET.__dict__, "flush_interval": 0.05}),
    )
    stop = threading.Event()

    def train() -> None:
        step = 0
        while not stop.is_set():
            run.log({"live/loss": 1.0 / (step + 1)})
            step += 1
            time.sleep(0.05)

    worker = threading.Thread(target=train)
    worker.start()
    try:
        run.flush()
        page.goto(f"{site}/runs/{run.id}")
        page.wait_for_selector("#charts .chart[data-key='live/loss']")
        first = int(page.get_attribute("#charts .chart[data-key='live/loss']", "data-points"))
        chart = "document.querySelector(\"#charts .chart[data-key='live/loss']\")"
        page.wait_for_function(f"+{chart}.dataset.points > {first}", timeout=20_000)
        assert page.get_attribute("#charts", "data-live") == "true"
    finally:
        stop.set()
        worker.join()
        run.finish()


def test_artifact_page_previews_files(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/catalog/artifacts")
    page.click("#artifacts a:text('digits-train')")
    page.wait_for_selector("#files")
    assert "prep" in page.inner_text("#producers")
    assert "train-best" in page.inner_text("#consumers")
    page.click("a.preview-link:text('train.csv')")
    page.wait_for_selector(".file-preview[data-kind=table]")
    assert page.eval_on_selector_all(".file-preview tbody tr", "rs => rs.length") == 2
    page.click("a.preview-link:text('sample.png')")
    page.wait_for_selector(".file-preview[data-kind=image] img")
    # wait for the load to finish (a broken image also completes, with width 0)
    page.wait_for_function("document.querySelector('.file-preview img').complete")
    width = page.eval_on_selector(".file-preview img", "img => img.naturalWidth")
    assert width == 1  # the image bytes came through the raw route
    page.click("a.preview-link:text('train.csv')")
    page.wait_for_selector(".file-preview[data-kind=table]")
    shoot(page, "artifact")


def test_lineage_graph_links_runs_and_versions(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/catalog/artifacts/digits-model")
    page.click("#lineage-link")
    page.wait_for_selector("#lineage .node")
    nodes = page.eval_on_selector_all("#lineage .node", "ns => ns.map(n => n.textContent)")
    labels = " ".join(nodes)
    for name in ("digits-model:v0", "train-best", "digits-train:v0", "prep"):
        assert name in labels
    assert page.eval_on_selector_all("#lineage path.edge", "es => es.length") == 3
    shoot(page, "lineage")
    page.click("#lineage .node.run:has-text('prep')")
    page.wait_for_selector("#run-artifacts")
    assert "digits-train:v0" in page.inner_text("#run-artifacts")


def test_model_page_shows_versions_and_alias_history(page: Any, site: str) -> None:
    page.goto(f"{site}/models")
    page.click("#models a:text('digits-classifier')")
    page.wait_for_selector("#alias-history")
    assert "first model" in page.inner_text("#alias-history")
    assert "digits-model:v0" in page.inner_text("#model-versions")
    shoot(page, "model")


def test_model_page_shows_the_traffic_policy_and_its_history(page: Any, site: str) -> None:
    page.goto(f"{site}/models/digits-classifier")
    page.wait_for_selector("#traffic")
    arms = page.eval_on_selector_all(
        "#traffic tr[data-arm]",
        "els => els.map(e => [e.dataset.arm, e.dataset.role, Number(e.dataset.share)])",
    )
    assert arms == [["production", "split", 90], ["candidate", "split", 10], ["1", "shadow", 25]]
    assert "sticky by header x-user-id" in page.inner_text("p.traffic-summary")
    versions = page.eval_on_selector_all("#traffic td.num", "els => els.map(e => e.innerText)")
    assert versions == ["1", "2", "1"]
    widths = page.eval_on_selector_all(
        "#traffic .share-bar", "els => els.map(e => e.getBoundingClientRect().width)"
    )
    assert widths[0] > widths[2] > widths[1] > 0  # 90% > 25% > 10%
    served = page.eval_on_selector_all(
        "#served-requests tr[data-version]",
        "els => els.map(e => [e.dataset.version, e.dataset.arm, Number(e.dataset.requests)])",
    )
    assert served == [["1", "production", 91], ["2", "candidate", 10]]
    candidate = page.inner_text("#served-requests tr[data-arm='candidate']")
    assert "\t1\t" in candidate  # rows 10, errors 1
    assert page.locator("#served-requests tr[data-arm='production'] .spark span").count() == 24
    history = page.inner_text("#traffic-history")
    assert "production 90%, candidate 10%" in history and "canary" in history
    assert history.index("wider canary") < history.index("production 95%")
    page.locator("#serving").scroll_into_view_if_needed()
    shoot(page, "model-traffic")


def test_model_page_lists_the_live_servers_and_the_gone_ones(page: Any, site: str) -> None:
    page.goto(f"{site}/models/digits-classifier")
    page.wait_for_selector("#model-servers")
    rows = page.eval_on_selector_all(
        "#model-servers tr[data-url]", "els => els.map(e => e.dataset.url)"
    )
    assert rows == ["http://127.0.0.1:5252"]
    arms = page.eval_on_selector_all(
        "#model-servers .served-arm",
        "els => els.map(e => [e.dataset.arm, e.dataset.version])",
    )
    assert arms == [["production", "1"], ["candidate", "2"], ["1", "1"]]
    link = page.get_attribute("#model-servers a", "href")
    assert link == "http://127.0.0.1:5252/docs"
    gone = page.inner_text("#gone-servers")
    assert "http://10.0.0.9:5252" in gone and "127.0.0.1" not in gone
    page.locator("#served-from").scroll_into_view_if_needed()
    shoot(page, "model-servers")


def test_evaluation_page_from_alias_evidence_shows_comparison_and_flips(
    page: Any, site: str
) -> None:
    page.goto(f"{site}/models/digits-classifier")
    page.click("#alias-history a:text-matches('^eval:')")
    page.wait_for_selector("#comparison")
    assert page.inner_text("#verdict") in ("fail", "inconclusive")
    assert "accuracy" in page.inner_text("#metrics")
    broke = page.inner_text("#flips-broke")
    assert "20 + 1" in broke and "7 + 1" not in broke  # item 20 broke; item 7 was fixed
    assert "7 + 1" in page.inner_text("#flips-fixed")
    shoot(page, "evaluation")
    page.click("a:text('Evaluations')")
    page.wait_for_selector("#evaluations")
    assert "arithmetic" in page.inner_text("#evaluations")


@pytest.fixture(scope="module")
def other_site() -> Iterator[str]:
    """Another origin on this machine, as an unrelated web page in the user's browser."""
    import http.server

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>elsewhere</title><p>an unrelated page</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_page_from_another_origin_cannot_write_to_the_local_server(
    page: Any, site: str, other_site: str
) -> None:
    """A no-cors text/plain POST needs no preflight, so the browser sends it: the local
    server must refuse it (and a form post), or any web page could log runs here."""
    import httpx

    from assay import wire
    from assay.ids import new_run_id
    from assay.records import Batch

    op = create_op(project="from-elsewhere")
    body = wire.encode(
        wire.IngestRequest([Batch(run_id=new_run_id(), writer="w", seq=0, ops=[op])]), wire.JSON
    )
    page.goto(other_site)
    page.evaluate(
        """async ([url, body]) => {
            await fetch(url, {method: "POST", mode: "no-cors",
                              headers: {"content-type": "text/plain"}, body});
        }""",
        [f"{site}/api/v1/batches", body.decode()],
    )
    page.evaluate(
        """async ([url]) => {
            await fetch(url, {method: "POST", mode: "no-cors", credentials: "include",
                              headers: {"content-type": "application/x-www-form-urlencoded"},
                              body: "notes=defaced"});
        }""",
        [f"{site}/ui/runs/x/notes"],
    )
    names = [p["name"] for p in httpx.get(f"{site}/api/v1/projects").json()]
    assert "from-elsewhere" not in names and "digits" in names


# ---- what a newcomer tripped over -----------------------------------------------------


@pytest.fixture(scope="module")
def sweep(site: str) -> list[str]:
    """Project "sweep": six runs of one sweep, each logging train/*, val/* and system/*;
    big numbers (10,000) and long decimals (27.475) to label on the y axis."""
    ids = []
    argv, sys.argv = sys.argv, ["sweep.py", "--trial"]  # what the runs record
    for i in range(6):
        with assay.init(
            project="sweep",
            name=f"trial-{i}",
            config={"lr": 0.1 / (i + 1), "seed": 0},
            group="sweep-a" if i < 3 else "sweep-b",
            job_type="train",
            uri=site,
            settings=QUIET,
        ) as run:
            for step in range(30):
                run.log(
                    {
                        "train/loss": 1.0 / (step + 1) + i,
                        "val/acc": 27.475 + i / 1000 + step / 10_000,
                        "val/count": 10_000.0 * (i + 1) + step,
                        **{f"system/{k}": float(step + i) for k in ("cpu", "disk", "gpu", "ram")},
                    }
                )
            ids.append(run.id)
    sys.argv = argv
    return ids


def charts(page: Any, scope: str = "#charts") -> list[str]:
    return page.eval_on_selector_all(f"{scope} .chart", "cs => cs.map(c => c.dataset.key)")


def test_runs_of_a_view_get_distinct_colours(page: Any, site: str, sweep: list[str]) -> None:
    """Colours came from a hash of the run id: 3 of 6 demo runs were the same crimson."""
    page.goto(f"{site}/projects/sweep")
    page.wait_for_selector("#charts .chart[data-key='train/loss'][data-series-count='6']")
    colours = page.get_attribute("#charts .chart[data-key='train/loss']", "data-colours")
    assert len(set(colours.split(","))) == 6
    # the same run, the same colour on every chart of the view and beside its name
    assert page.get_attribute("#charts .chart[data-key='val/acc']", "data-colours") == colours
    swatches = page.eval_on_selector_all(
        "#runs .swatch-run", "ss => ss.map(s => getComputedStyle(s).backgroundColor)"
    )
    assert len(set(swatches)) == 6
    shoot(page, "runs-colours")


def test_y_axis_labels_fit_their_axis(page: Any, site: str, sweep: list[str]) -> None:
    """ "27.475" showed as "7.475" and "10,000" as "0,000": the axis was 50 px whatever
    its labels."""
    page.goto(f"{site}/runs/{sweep[5]}")
    page.wait_for_selector("#charts .chart[data-key='val/count'] canvas")
    for key in ("val/acc", "val/count"):
        fit = page.eval_on_selector(
            f"#charts .chart[data-key='{key}']",
            """box => {
                const u = box.assayPlot, axis = u.axes[1];
                const labels = [...box.querySelectorAll('.u-axis')][1];
                const ctx = document.createElement('canvas').getContext('2d');
                ctx.font = axis.font[0];
                const widest = Math.max(...axis._values.map(v => ctx.measureText(v).width))
                    / (window.devicePixelRatio || 1);
                return {size: axis._size, need: widest + axis.ticks.size + axis.gap,
                        labels: axis._values};
            }""",
        )
        assert fit["size"] >= fit["need"], (key, fit)
    labels = page.eval_on_selector(
        "#charts .chart[data-key='val/count']", "b => b.assayPlot.axes[1]._values"
    )
    assert any(len(v.replace(",", "")) >= 5 for v in labels), labels
    shoot(page, "run-axis")


def test_runs_page_shows_user_charts_first_and_system_ones_folded(
    page: Any, site: str, sweep: list[str]
) -> None:
    """Nine system/* charts came before train/* and val/*, and the metric columns were
    scrolled off-screen."""
    page.goto(f"{site}/projects/sweep")
    page.wait_for_selector("#charts .chart")
    assert charts(page) == ["train/loss", "val/acc", "val/count"]
    assert page.eval_on_selector("#system-box", "d => d.open") is False
    assert charts(page, "#system-charts") == []  # nothing fetched until opened
    heads = page.eval_on_selector_all(
        "#runs thead a[data-column]", "as => as.map(a => a.dataset.column)"
    )
    assert heads[:2] == ["name", "config.lr"]
    assert heads.index("summary.val/acc") < heads.index("status")
    box = page.eval_on_selector(
        "#runs th a[data-column='summary.val/acc']", "a => a.getBoundingClientRect().right"
    )
    assert box <= page.evaluate("window.innerWidth")  # on screen without scrolling
    page.click("#system-box summary")
    page.wait_for_selector("#system-charts .chart[data-key='system/cpu']")
    assert all(k.startswith("system/") for k in charts(page, "#system-charts"))
    shoot(page, "runs-system")


def test_runs_can_be_grouped_by_group_tags_and_job_type(
    page: Any, site: str, sweep: list[str]
) -> None:
    page.goto(f"{site}/projects/sweep")
    options = page.eval_on_selector_all("select[name=group] option", "os => os.map(o => o.value)")
    assert {"group", "tags", "job_type"} <= set(options)
    page.select_option("select[name=group]", "group")
    page.wait_for_function("document.querySelectorAll('#runs .group-head').length === 2")
    assert "/projects/sweep?" in page.url and "group=group" in page.url  # not the fragment's
    heads = page.eval_on_selector_all("#runs .group-head", "hs => hs.map(h => h.textContent)")
    assert any("sweep-a" in h for h in heads) and any("sweep-b" in h for h in heads)


def test_grouped_runs_show_their_groups_at_once_and_their_statistics_once_loaded(
    page: Any, site: str
) -> None:
    """The grouped table waited for its groups' figures over every matching run (363 ms
    at 100,000 runs); it shows its groups at once, asks for the figures apart, and each
    group's count and statistics appear in its head when they arrive."""
    from assay.server.ui.display import fmt

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/groups?" in r.url else None)
    page.goto(
        f"{site}/projects/digits?filter=summary.best_acc+%3E+0&group=config.opt"
        "&columns=config.lr,summary.best_acc"
    )
    page.wait_for_selector("#runs-table .group-stats[data-loaded]", state="attached")
    heads = page.eval_on_selector_all(
        "#runs .group-head",
        """hs => hs.map(h => [h.querySelector('strong').textContent,
                               h.querySelector('.group-count').textContent,
                               [...h.querySelectorAll('.group-stat')].map(s => s.textContent),
                               h.querySelectorAll('.pending').length])""",
    )
    want = {"adam": (0.9, 0.95), "sgd": (0.99, 0.999)}  # best_acc = 1 - lr
    assert sorted(h[0] for h in heads) == ["adam", "sgd"] and len(asked) == 1
    for opt, count, cells, pending in heads:
        low, high = want[opt]
        assert count == "2" and pending == 0
        assert cells == ["", f"{fmt((low + high) / 2)} {fmt(low)}\u2013{fmt(high)}"]


def test_a_running_grouped_table_keeps_its_statistics_through_its_refresh(
    page: Any, site: str
) -> None:
    """A table with a running run refreshes every 3 s; its groups' figures, asked for
    apart, would blank to "…" at each refresh until asked for again."""
    run = assay.init(project="live-groups", config={"opt": "adam"}, uri=site, settings=QUIET)
    try:
        run.log({"loss": 0.5})
        run.flush()
        page.goto(f"{site}/projects/live-groups?group=config.opt&columns=summary.loss")
        page.wait_for_selector("#runs-table .group-stats[data-loaded]", state="attached")
        assert page.inner_text("#runs .group-count") == "1"
        refreshed = page.evaluate(
            """() => new Promise(done => document.body.addEventListener('htmx:afterSwap',
                e => { if (e.target.id === 'runs-table')
                         done(document.querySelector('#runs .group-count').textContent); }))"""
        )
        assert refreshed == "1"  # what it showed, until the new figures arrive
    finally:
        run.finish()


def test_a_run_of_10000_keys_pages_and_searches_its_charts(page: Any, site: str) -> None:
    """Charts past the first 200 keys were dropped silently (`loss` among them); at 10,000
    keys the page sent a 239,000-character URL, got a 400 and showed nothing."""
    with assay.init(project="wide", name="wide", uri=site, settings=QUIET) as run:
        run.log({f"m{i:05d}": float(i) for i in range(10_000)} | {"loss": 1.0})
        run.log({f"m{i:05d}": float(i + 1) for i in range(10_000)} | {"loss": 0.5})
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(f"{site}/runs/{run.id}")
    page.wait_for_selector("#charts .chart")
    status = page.inner_text("#charts-section .chart-status")
    assert "showing charts 1 to 24 of 10,001" in status
    assert max(len(u) for u in urls) < 2000
    page.fill("#key-search", "loss")
    page.wait_for_function("document.querySelector('#charts').dataset.matched === '1'")
    assert charts(page) == ["loss"]
    page.fill("#key-search", "")
    page.wait_for_function("document.querySelector('#charts').dataset.matched === '10001'")
    page.click("#charts-section .chart-next")
    page.wait_for_selector("#charts .chart[data-key='m00024']")
    assert "showing charts 25 to 48 of 10,001" in page.inner_text("#charts-section .chart-status")


def test_compare_values_sit_under_their_runs_and_axes_have_ticks(
    page: Any, site: str, sweep: list[str]
) -> None:
    """Summary values showed under the wrong run names (a long value stretched a column,
    numbers sat right and names left); parallel coordinates had no tick values."""
    with assay.init(project="sweep", name="odd", uri=site, settings=QUIET) as odd:
        odd.summary["workers"] = {f"w{i}": {"labels": i, "accuracy": 0.9} for i in range(30)}
        odd.summary["val/acc"] = 1.0
    page.goto(f"{site}/compare?runs={odd.id},{sweep[0]},{sweep[1]}")
    page.wait_for_selector("#summary-compare")
    misplaced = page.evaluate(
        """() => {
            const heads = [...document.querySelectorAll('#summary-compare thead th')];
            const centre = (r) => (r.left + r.right) / 2;
            const wrong = [];
            for (const row of document.querySelectorAll('#summary-compare tbody tr')) {
                [...row.cells].forEach((cell, i) => {
                    if (i === 0 || cell.textContent.trim() === '-') return;
                    const range = document.createRange();
                    range.selectNodeContents(cell);
                    const x = centre(range.getBoundingClientRect());
                    const own = heads[i].getBoundingClientRect();
                    if (x < own.left || x > own.right) wrong.push(i);
                });
            }
            return wrong;
        }"""
    )
    assert misplaced == []
    page.wait_for_selector("#parallel svg")
    page.select_option("#pc-metric", "val/acc")
    ticks = page.eval_on_selector_all("#parallel .pc-tick", "ts => ts.map(t => t.textContent)")
    assert len(ticks) >= 4 and any(t.replace(".", "").isdigit() for t in ticks)
    shoot(page, "compare-ticks")


def test_flips_of_tabular_inputs_fit_the_page(page: Any, site: str) -> None:
    """The flips table was 7,044 px wide for a table of 60 columns."""
    items = [
        {"id": i, **{f"feature_{c:02d}": i * c / 7 for c in range(60)}, "label": i % 2}
        for i in range(40)
    ]
    base = assay.evaluate(
        lambda item: item["id"] % 2,
        items,
        ["accuracy"],
        label_column="label",
        id_column="id",
        project="wide",
        uri=site,
        progress=False,
    )
    report = assay.evaluate(
        lambda item: (item["id"] % 2) ^ (item["id"] in (3, 4)),
        items,
        ["accuracy"],
        label_column="label",
        id_column="id",
        project="wide",
        uri=site,
        progress=False,
        baseline=f"eval:{base.id}",
        level=0.9,
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site}/evaluations/{report.id}")
    page.wait_for_selector("#flips-broke")
    width = page.eval_on_selector("#flips-broke", "t => t.getBoundingClientRect().width")
    assert width <= 1280
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert "90% CI" in page.inner_text("#metrics")
    page.click("#flips-broke details summary")
    assert "feature_59" in page.inner_text("#flips-broke details pre")
    shoot(page, "evaluation-flips")


WIDTHS = (1280, 390)


def test_every_page_fits_a_desktop_and_a_phone(browser: Any, site: str, sweep: list[str]) -> None:
    """No page scrolls sideways at 1280 px or 390 px (a table may scroll in its own box)."""
    import httpx

    catalog = httpx.get(f"{site}/api/v1/projects/catalog/runs").json()
    evaluation = httpx.get(f"{site}/projects/catalog/evaluations").text
    eval_id = evaluation.split('href="/evaluations/')[1].split('"')[0]
    pages = {
        "projects": "/",
        "runs": "/projects/sweep",
        "run": f"/runs/{sweep[0]}",
        "compare": f"/compare?runs={sweep[0]},{sweep[1]},{sweep[2]}",
        "artifacts": "/projects/catalog/artifacts",
        "artifact": "/projects/catalog/artifacts/digits-train",
        "lineage": f"/lineage?node=run:{catalog[0]['id']}",
        "models": "/models",
        "model": "/models/digits-classifier",
        "evaluations": "/projects/catalog/evaluations",
        "evaluation": f"/evaluations/{eval_id}",
    }
    wide = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        pg = context.new_page()
        for name, path in pages.items():
            pg.goto(f"{site}{path}")
            pg.wait_for_load_state("networkidle")
            scroll, inner = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                wide.append(f"{name} at {width}: {scroll} > {inner}")
            shoot(pg, f"{name}-{width}")
        context.close()
    assert wide == [], "\n".join(wide)
