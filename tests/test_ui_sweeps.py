"""The sweep pages in a real browser (Debian's chromium through Playwright): parallel
coordinates with axis ticks, parameter importance, best trials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import assay
from assay.sdk.sweeps import sweep as run_sweep
from tests.conftest import QUIET
from tests.test_server_e2e import ServerProcess
from tests.test_ui_browser import browser, page, shoot

__all__ = ["browser", "page"]

SPEC = {
    "method": "random",
    "seed": 1,
    "run_cap": 12,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"min": 0.001, "max": 1.0, "log": True},
        "opt": {"values": ["sgd", "adam"]},
        "noise": {"min": 0.0, "max": 1.0},
    },
}


def train() -> None:
    with assay.init(settings=QUIET) as run:
        lr, opt = run.config["lr"], run.config["opt"]
        run.log({"loss": (lr - 0.1) ** 2 * 100 + (0.5 if opt == "sgd" else 0.0)})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    root = str(tmp_path_factory.mktemp("sweeps") / "store")
    trials = run_sweep(SPEC, train, project="tune", uri=root)
    server = ServerProcess(root).start()
    yield server.url, root, trials[0].sweep_id
    server.stop()


def test_the_sweep_page_plots_trials_with_ticks_and_ranks_them(
    page: Any, site: tuple[str, str, str]
) -> None:
    url, root, sweep_id = site
    page.goto(f"{url}/projects/tune/sweeps")
    page.click(f"tr[data-sweep-id='{sweep_id}'] a")
    page.wait_for_selector("#sweep-parallel svg")
    shoot(page, "sweep")
    assert page.get_attribute("#sweep-parallel", "data-lines") == "12"  # one line per trial
    labels = page.eval_on_selector_all(
        "#sweep-parallel .pc-label", "e => e.map(x => x.textContent)"
    )
    assert labels == ["lr", "opt", "noise", "loss"]
    ticks = page.eval_on_selector_all("#sweep-parallel .pc-tick", "e => e.map(x => x.textContent)")
    assert "sgd" in ticks and "adam" in ticks  # a categorical axis is labelled by its choices
    assert len(ticks) >= 2 + 3 * 3  # the numeric axes: lowest, middle, highest
    ranked = page.eval_on_selector_all("#importance tr", "e => e.map(x => x.dataset.param)")
    assert set(ranked) <= {"lr", "opt", "noise"} and ranked[0] in ("lr", "opt")
    assert "fANOVA" in page.text_content("h2:has(+ #importance)")
    values = page.eval_on_selector_all(
        "#best-trials tbody tr td:nth-child(3)", "e => e.map(x => +x.textContent)"
    )
    assert values == sorted(values) and len(values) == 10
    with assay.Api(root) as api:
        best = min(t.value for t in api.store.sweeps.trials(sweep_id) if t.value is not None)
    assert values[0] == pytest.approx(best, rel=1e-3)
