"""The labelling UI in a real browser (Debian's chromium through Playwright), on a server
with auth on: an annotator signs in, labels with the keyboard (choices, skip, comment)
until the queue is empty, and sees nothing of the project's runs; a writer's project
page then shows progress, agreement, annotator quality and the disagreements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import assay
from assay.records import LabelItemDraft, LabelProjectDraft, LabelSchema
from assay.store.base import open_sql_store
from assay.store.sql.auth import SqlAuth
from tests.conftest import QUIET
from tests.test_server_e2e import ServerProcess
from tests.test_ui_browser import browser, page, shoot

__all__ = ["browser", "page"]  # the fixtures, shared with the other browser tests

TEXTS = {"r1": "A wonderful film.", "r2": "Dull and far too long.", "r3": "Not bad at all."}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("labels-ui") / "store"
    with assay.init(project="reviews", uri=root, settings=QUIET) as run:
        run.log({"loss": 0.5})
    store = open_sql_store(root)
    auth = SqlAuth(store.engine)
    keys = {}
    for user, admin in (("lead", False), ("ant", False)):
        auth.add_user(user, is_admin=admin)
        keys[user] = auth.create_key(user)[1]
    auth.grant("lead", "reviews", "writer")
    auth.grant("ant", "reviews", "annotator")
    items = [LabelItemDraft(item_id=k, data={"text": v}) for k, v in TEXTS.items()]
    made = store.labels.create(
        LabelProjectDraft(
            project="reviews",
            name="sentiment",
            schema=LabelSchema(
                kind="single",
                choices=["positive", "negative"],
                instructions="Is the review positive?",
            ),
            items=items,
            overlap=2,
        )
    )
    # another annotator's labels, so the project page has agreement to show
    for value in ("positive", "negative", "positive"):
        task = store.labels.claim(made.id, "earlier")
        assert task is not None
        store.labels.submit(made.id, task.item_id, "earlier", value)
    store.close()
    server = ServerProcess(str(root), extra=("--auth",)).start()
    yield {"url": server.url, "keys": keys, "id": made.id}
    server.stop()


def _sign_in(page: Any, site: dict[str, Any], user: str, target: str) -> None:
    page.goto(f"{site['url']}{target}")
    page.fill("input[name=key]", site["keys"][user])
    page.press("input[name=key]", "Enter")
    page.wait_for_url(f"**{target}")


def _item(page: Any) -> str:
    return str(page.get_attribute("#label-item", "data-item"))


def test_an_annotator_labels_with_the_keyboard_until_the_queue_is_empty(
    page: Any, site: dict[str, Any]
) -> None:
    _sign_in(page, site, "ant", "/labels")
    assert page.locator("#label-projects tbody tr").count() == 1
    assert page.locator("#label-projects a", has_text="sentiment").count() == 0  # no project page
    page.click("text=Start labelling")
    page.wait_for_selector("#label-item")
    assert "Is the review positive?" in page.content()
    first = _item(page)
    assert page.inner_text("#label-item").strip() == TEXTS[first]
    assert "You have labelled 0" in page.inner_text("#queue-progress")
    shoot(page, "label-queue")
    page.keyboard.press("1")  # positive
    page.wait_for_function(f"document.querySelector('#label-item')?.dataset.item !== '{first}'")
    assert "You have labelled 1" in page.inner_text("#queue-progress")
    second = _item(page)
    page.keyboard.press("c")
    page.keyboard.type("sarcasm?")
    page.keyboard.press("Escape")
    page.keyboard.press("s")  # skip, with the comment
    page.wait_for_function(f"document.querySelector('#label-item')?.dataset.item !== '{second}'")
    assert "skipped 1" in page.inner_text("#queue-progress")
    third = _item(page)
    assert third not in {first, second}
    page.keyboard.press("2")  # negative
    page.wait_for_selector("#queue-empty")
    assert "You have labelled 2 and skipped 1" in page.inner_text("#queue-progress")


def test_an_annotator_cannot_read_the_projects_runs(page: Any, site: dict[str, Any]) -> None:
    _sign_in(page, site, "ant", "/labels")
    page.goto(f"{site['url']}/")
    assert "reviews" not in page.inner_text("main")
    answer = page.goto(f"{site['url']}/projects/reviews")
    assert answer is not None and answer.status == 403
    answer = page.goto(f"{site['url']}/labels/{site['id']}")
    assert answer is not None and answer.status == 403


def test_the_project_page_shows_progress_agreement_and_disagreements(
    page: Any, site: dict[str, Any]
) -> None:
    _sign_in(page, site, "lead", f"/labels/{site['id']}")
    facts = page.inner_text("#label-facts")
    assert "labels" in facts and "Krippendorff" in page.inner_text("#label-agreement")
    annotators = page.inner_text("#label-annotators")
    assert "earlier" in annotators and "ant" in annotators
    assert page.locator("#label-disagreements tbody tr").count() >= 1
    shoot(page, "label-project")


def test_the_queue_fits_a_phone_screen(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800})
    phone = context.new_page()
    try:
        _sign_in(phone, site, "lead", f"/labels/{site['id']}/queue")
        phone.wait_for_selector("#label-item")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(phone, "label-queue-phone")
    finally:
        context.close()
