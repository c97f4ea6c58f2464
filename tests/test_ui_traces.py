"""The trace pages in a real browser (Debian's chromium through Playwright): the traces
list and its filter, the span tree (folding, timing bars, a span's attributes and
conversation), and a 30,000-span trace drawn row by row as it scrolls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.records import Span
from assay.store.sql.store import SqlStore
from tests.test_server_e2e import ServerProcess
from tests.test_ui_browser import browser, page, shoot

__all__ = ["browser", "page"]  # the browser fixtures, shared with test_ui_browser

T0 = 1_767_225_600_000_000_000
AGENT = "a" * 32
HUGE = "b" * 32
N_HUGE = 30_000


def _span(trace_id: str, n: int, parent: int | None, **fields: Any) -> Span:
    start = T0 + n * 1_000_000 + (10**9 if trace_id == HUGE else 0)  # the huge one is newer
    base: dict[str, Any] = {
        "project": "bot",
        "trace_id": trace_id,
        "span_id": f"{n:016x}",
        "parent_id": None if parent is None else f"{parent:016x}",
        "name": f"step {n}",
        "start_ns": start,
        "end_ns": start + 500_000,
    }
    return Span(**{**base, **fields})


def _agent() -> list[Span]:
    chat = {
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Where is my refund?"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "It left today."}]}]
        ),
        "app.note": "<b>not html</b>",
    }
    return [
        _span(AGENT, 1, None, name="invoke_agent support", end_ns=T0 + 9_000_000),
        _span(
            AGENT,
            2,
            1,
            name="chat gpt-4o-mini",
            model="gpt-4o-mini",
            input_tokens=1200,
            output_tokens=300,
            cost=0.00036,
            operation="chat",
            attributes=chat,
        ),
        _span(
            AGENT,
            3,
            1,
            name="execute_tool lookup_order",
            status="error",
            status_message="order not found",
        ),
        _span(AGENT, 4, 3, name="db query"),
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("traces-ui") / "store"
    store = SqlStore.embedded(Path(root))
    store.traces.write(_agent())
    # a deep chain of 200 and a wide fan of the rest: both shapes at once
    huge = [_span(HUGE, 1, None, name="batch job", end_ns=T0 + 10**9 + (N_HUGE + 2) * 1_000_000)]
    huge += [_span(HUGE, n, n - 1 if n <= 200 else 1) for n in range(2, N_HUGE + 1)]
    for i in range(0, len(huge), 10_000):
        store.traces.write(huge[i : i + 10_000])
    store.close()
    server = ServerProcess(str(root)).start()
    yield server.url
    server.stop()


def test_the_traces_list_shows_and_filters_traces(page: Any, site: str) -> None:
    page.goto(f"{site}/projects/bot/traces")
    ids = page.eval_on_selector_all(
        "#traces tr[data-trace-id]", "els => els.map(e => e.dataset.traceId)"
    )
    assert ids == [HUGE, AGENT]  # newest first
    page.fill("#filter", "status == 'error' and model == 'gpt-4o-mini'")
    page.click("form.controls button")
    page.wait_for_url("**filter=*")
    ids = page.eval_on_selector_all(
        "#traces tr[data-trace-id]", "els => els.map(e => e.dataset.traceId)"
    )
    assert ids == [AGENT]
    assert "$0.0004" in page.inner_text("#traces")
    page.fill("#filter", "latency > 'slow'")
    page.click("form.controls button")
    page.wait_for_selector("#filter-error")
    assert "latency is a number" in page.inner_text("#filter-error")


def test_a_trace_page_draws_the_span_tree_and_opens_a_span(page: Any, site: str) -> None:
    page.goto(f"{site}/traces/{AGENT}")
    page.wait_for_selector(".span-row")
    names = page.eval_on_selector_all(".span-row .name", "els => els.map(e => e.textContent)")
    assert names == [
        "invoke_agent support",
        "chat gpt-4o-mini",
        "execute_tool lookup_order",
        "db query",
    ]
    depths = page.eval_on_selector_all(".span-row", "els => els.map(e => Number(e.dataset.depth))")
    assert depths == [0, 1, 1, 2]
    tool = page.locator(".span-row", has_text="execute_tool")
    assert "error" in (tool.get_attribute("class") or "")
    width = page.eval_on_selector(
        f".span-row[data-span-id='{4:016x}'] .bar span", "e => parseFloat(e.style.width)"
    )
    assert 0 < width < 10  # 0.5 ms of a 9 ms trace
    tool.locator(".twisty").click()
    page.wait_for_function("document.querySelectorAll('.span-row').length === 3")
    page.locator(".span-row", has_text="chat gpt-4o-mini").locator(".name").click()
    page.wait_for_selector("#span-attributes")
    shown = page.inner_text("#span-detail")
    assert "Where is my refund?" in shown and "It left today." in shown
    assert "gpt-4o-mini" in shown and "1200" in shown
    assert page.locator("#span-detail b").count() == 0  # attribute text is never HTML
    shoot(page, "trace")


def test_a_thirty_thousand_span_trace_renders_only_what_is_in_view(page: Any, site: str) -> None:
    page.goto(f"{site}/traces/{HUGE}")
    page.wait_for_selector(".span-row")
    tree = page.locator("#span-tree")
    assert tree.get_attribute("data-spans") == str(N_HUGE)
    assert tree.get_attribute("data-visible") == str(N_HUGE)
    assert int(tree.get_attribute("data-rendered") or 0) < 100
    deepest = page.eval_on_selector_all(
        ".span-row", "els => Math.max(...els.map(e => Number(e.dataset.depth)))"
    )
    assert deepest > 10
    tree.evaluate("t => { t.scrollTop = t.scrollHeight; t.dispatchEvent(new Event('scroll')); }")
    page.wait_for_selector(f".span-row[data-span-id='{N_HUGE:016x}']")
    assert int(tree.get_attribute("data-rendered") or 0) < 100
    page.click("#collapse-all")
    page.wait_for_function("document.getElementById('span-tree').dataset.visible === '1'")
    page.fill("#span-search", "step 29999")
    page.wait_for_function("document.getElementById('span-tree').dataset.visible === '1'")
    page.click(f".span-row[data-span-id='{29_999:016x}'] .name")
    page.wait_for_selector("#span-attributes", state="attached")  # a span without attributes
    assert "step 29999" in page.inner_text("#span-detail")


def test_a_reviewer_adds_feedback_on_a_span_from_the_trace_page(page: Any, site: str) -> None:
    page.goto(f"{site}/traces/{AGENT}")
    page.wait_for_selector(".span-row")
    assert page.inner_text("#feedback-empty") == "No feedback yet."
    page.locator(".span-row", has_text="chat gpt-4o-mini").locator(".name").click()
    page.wait_for_function(f"document.getElementById('feedback-span').value === '{2:016x}'")
    form = page.locator("#feedback-form")
    form.locator("input[name=score]").fill("high")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#feedback-error")
    assert "is not a number" in page.inner_text("#feedback-error")
    page.locator(".span-row", has_text="chat gpt-4o-mini").locator(".name").click()
    page.wait_for_function(f"document.getElementById('feedback-span').value === '{2:016x}'")
    form = page.locator("#feedback-form")
    form.locator("input[name=name]").fill("helpful")
    form.locator("input[name=thumbs][value=down]").check()
    form.locator("input[name=score]").fill("0.25")
    form.locator("textarea[name=correction]").fill("Your refund left on Monday.")
    form.locator("input[name=comment]").fill("wrong date")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#feedback-table")
    row = page.inner_text("#feedback-table tbody tr")
    for shown in ("human", "helpful", "0.25", "👎", f"{2:016x}", "Your refund left on", "wrong"):
        assert shown in row
    assert page.locator("#feedback-error").count() == 0
    shoot(page, "trace-feedback")
