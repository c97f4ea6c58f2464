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
from tests.conftest import QUIET
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
    server = ServerProcess(str(root)).start()
    yield server.url
    server.stop()


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
        "#runs tr[data-run-id] td:nth-child(3)", "e => e.map(x => x.textContent)"
    )
    assert len(names) == 2
    accs = page.eval_on_selector_all(
        "#runs tr[data-run-id] td:last-child", "e => e.map(x => +x.textContent)"
    )
    assert accs == sorted(accs, reverse=True)


def test_bad_filter_shows_the_position_inline(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/digits")
    page.fill("#filter", "config.lr <")
    page.press("#filter", "Enter")
    error = page.wait_for_selector(".filter-error")
    assert error.get_attribute("data-position") == "11"


def test_run_page_draws_its_charts(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/digits")
    page.click("#runs tr[data-run-id] td:nth-child(3) a")
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
