"""The prompt pages in a real browser (Debian's chromium through Playwright): a project's
prompts with their labels and splits, and one prompt's versions, history and A/B."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from assay.records import Span
from assay.sdk import prompts
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.store import open_store
from tests.test_server_e2e import ServerProcess
from tests.test_ui_browser import browser, page, shoot

__all__ = ["browser", "page"]

T0 = 1_700_000_000_000_000_000
CHAT = [
    {"role": "system", "content": "You help with {{ product }}."},
    {"role": "user", "content": "{{ question }}"},
]


# evidence as people paste it: a long link and a sentence, wider than any screen
LONG_EVIDENCE = "https://ci.example.com/builds/" + "a1b2c3d4" * 16 + " passed on 500 items" * 4


def fill(root: str) -> None:
    """Prompt ``support`` with two versions split 70/30 on ``production``, a plain
    ``staging`` label, and 300 traces where v1's answers are rated much lower."""
    store = open_store(root)
    try:
        prompts.commit(store, "shop", "support", CHAT, params={"temperature": 0.2})
        prompts.commit(store, "shop", "support", "Answer: {{ question }}")
        store.prompts.set_label("shop", "support", "production", {"0": 100}, reason="first")
        store.prompts.set_label(
            "shop", "support", "production", {"0": 70, "1": 30}, reason="try text", evidence="e-1"
        )
        store.prompts.set_label(
            "shop", "support", "staging", {"1": 100}, reason="review", evidence=LONG_EVIDENCE
        )
        spans = [
            Span(
                project="shop",
                trace_id=f"{t + 1:032x}",
                span_id=f"{1:016x}",
                name="answer",
                start_ns=T0 + t * 10**9,
                end_ns=T0 + t * 10**9 + 10**8,
                attributes={
                    "assay.prompt.name": "support",
                    "assay.prompt.version": int(t % 10 < 3),
                    "assay.score.helpful": float(t % 10 >= 3 or t % 3 == 0),
                },
            )
            for t in range(300)
        ]
        store.traces.write(spans)
    finally:
        store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = str(tmp_path_factory.mktemp("prompts") / "store")
    fill(root)
    server = ServerProcess(root).start()
    yield server.url
    server.stop()


def test_the_prompt_pages_show_labels_splits_versions_and_the_ab(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/shop/prompts")
    tags = page.eval_on_selector_all(
        "#prompts tr[data-prompt='support'] .tag", "e => e.map(x => x.textContent)"
    )
    assert tags == ["production: v0 70%, v1 30%", "staging: v1"]
    page.click("#prompts tr[data-prompt='support'] a")
    page.wait_for_selector("#prompt-labels")
    shoot(page, "prompt")
    assert page.text_content("[data-ab='production'] [data-verdict]").startswith("FAIL")
    traces = page.eval_on_selector_all(
        "[data-ab='production'] .ab-arms tr[data-metric='helpful']",
        "e => e.map(x => x.dataset.traces)",
    )
    assert traces == ["210", "90"]
    decision = page.text_content(".ab-comparisons tr[data-metric='helpful'] .decision")
    assert decision == "fail"
    assert page.eval_on_selector_all(".prompt-version", "e => e.map(x => x.dataset.version)") == [
        "1",
        "0",
    ]
    history = page.text_content("#prompt-history")
    assert "try text" in history and "e-1" in history


def test_long_evidence_in_the_history_wraps_instead_of_widening_the_page(
    page: Any, site: str
) -> None:
    page.set_viewport_size({"width": 1300, "height": 900})
    page.goto(f"{site}/projects/shop/prompts/support")
    page.wait_for_selector("#prompt-history")
    assert "a1b2c3d4" in page.text_content("#prompt-history")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1300, f"the page is {width} px wide at a 1300 px window"


def test_a_prompt_page_needs_the_viewer_role(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    fill(root)
    client = TestClient(create_app(ServerConfig(root)), base_url="http://assay.test")
    answer = client.get("/projects/shop/prompts/support", follow_redirects=False)
    assert answer.status_code in (303, 401)
