"""The monitoring page in a real browser (Debian's chromium through Playwright): charts by
version and arm, the drift heat map with p-values on hover, performance with intervals,
alert incidents, and the link from the model page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assay.monitoring.requests import FrameSource
from assay.sdk import monitors
from assay.store.sql.store import SqlStore
from tests.conftest import log_model
from tests.test_monitors import T0, WINDOW, free_port, log_of, reference_frame, requests
from tests.test_server_e2e import ServerProcess
from tests.test_ui_browser import ARTIFACTS, browser

__all__ = ["browser"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("monitoring") / "store"
    store = SqlStore.embedded(root)
    version = log_model(store, tmp_path_factory.mktemp("model"), b"weights")
    store.models.register(version.id, "clf")
    store.models.register(log_model(store, tmp_path_factory.mktemp("m2"), b"w2").id, "clf")
    store.models.register(version.id, "unwatched")
    monitor = monitors.add(
        store, "models:/clf@production", window="1m", reference=reference_frame(),
        alerts=["drift", "p99_ms > 1000"], start=T0, webhook=f"http://127.0.0.1:{free_port()}/x",
    )  # fmt: skip
    frames = [requests(s, 300, labelled=True, seed=s) for s in range(6)]
    frames[3] = requests(3, 300, shift=1.0, labelled=True)
    frames.append(requests(4, 80, version="2", arm="canary", labelled=True))
    source: FrameSource = log_of(*frames)
    for step in range(6):
        monitors.run_one(store, monitor.id, source, now=T0 + (step + 1) * WINDOW)
    store.close()
    server = ServerProcess(str(root), extra=("--monitor-interval", "0")).start()
    yield server.url
    server.stop()


def test_the_monitoring_page_shows_series_heat_map_and_alerts(
    browser: Any,
    site: str,
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(f"{site}/models/clf")
        page.click("#monitoring-link")
        page.wait_for_selector("[data-monitor-chart][data-drawn=true]")
        charts = page.locator("[data-monitor-chart]")
        assert charts.count() == 4  # traffic, latency, errors, accuracy
        traffic = page.locator("[data-monitor-chart=traffic]")
        # all traffic, version 1, version 2, version 2 on the canary arm
        assert traffic.get_attribute("data-series-count") == "4"
        assert page.locator("[data-monitor-chart=performance] canvas").count() == 1
        drifted = page.locator("td.cell.drifted")
        assert drifted.count() >= 1
        assert drifted.first.get_attribute("data-feature") == "x"
        assert drifted.first.get_attribute("data-step") == "3"
        title = drifted.first.get_attribute("title") or ""
        assert "p = " in title and "PSI" in title and "DRIFT" in title
        calm = page.locator("td.cell.calm[data-feature=x][data-step='0']")
        assert calm.count() == 1
        rows = page.locator("[data-alerts] tbody tr")
        assert rows.count() == 1
        assert "drift" in rows.first.inner_text() and "resolved" in rows.first.inner_text()
        # the webhook never answered: each event pending, with the last error shown
        fired = rows.first.locator("[data-delivery=fired]")
        assert fired.get_attribute("data-state") == "pending"
        assert "pending after" in fired.inner_text() and "ConnectError" in fired.inner_text()
        assert rows.first.locator("[data-delivery=resolved]").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitoring.png"), full_page=True)
    finally:
        page.close()


def test_a_model_without_monitors_says_how_to_add_one(
    browser: Any,
    site: str,
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{site}/models/unwatched/monitoring")
        assert "assay monitor add models:/unwatched@production" in page.inner_text("#no-monitors")
    finally:
        page.close()
