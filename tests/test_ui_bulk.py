"""Bulk actions in the runs table, in a real browser (Debian's chromium through
Playwright): select rows, then delete, restore, tag or move them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

import assay
from tests.conftest import QUIET
from tests.test_server_e2e import ServerProcess
from tests.test_ui_browser import browser, page, rows

__all__ = ["browser", "page"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[str]]]:
    root = str(tmp_path_factory.mktemp("bulk") / "store")
    argv = sys.argv
    sys.argv = ["train.py"]
    ids = []
    for name in ("alpha", "beta", "gamma", "delta"):
        with assay.init(project="bulk", name=name, uri=root, settings=QUIET) as run:
            run.log({"loss": 1.0})
        ids.append(run.id)
    sys.argv = argv
    server = ServerProcess(root).start()
    yield server.url, root, ids
    server.stop()


def select(page: Any, *run_ids: str) -> None:
    for run_id in run_ids:
        page.check(f"tr[data-run-id='{run_id}'] .select-run")
    page.wait_for_selector("#bulk:not([hidden])")


def act(page: Any, button: str) -> None:
    """Click a bulk action's button and wait until the table it answers is in place."""
    page.evaluate(
        "window.swapped = false; document.body.addEventListener("
        "'htmx:afterSettle', () => { window.swapped = true; }, {once: true})"
    )
    page.click(button)
    page.wait_for_function("window.swapped")


def test_selected_runs_are_deleted_tagged_moved_and_restored(
    page: Any, site: tuple[str, str, list[str]]
) -> None:
    url, root, ids = site
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{url}/projects/bulk")
    page.wait_for_selector("#runs tr[data-run-id]")
    assert page.is_hidden("#bulk")  # nothing selected, no actions
    select(page, ids[0], ids[1])
    assert page.text_content("#bulk-count") == "2 selected"
    act(page, "#bulk-delete")
    page.wait_for_function("document.querySelectorAll('#runs tr[data-run-id]').length === 2")
    assert set(rows(page)) == {ids[2], ids[3]}

    select(page, ids[2])
    page.fill("#bulk-tag", "keeper")
    act(page, "#bulk-tag-add")
    assert page.is_checked(f"tr[data-run-id='{ids[2]}'] .select-run")  # still selected
    page.uncheck(f"tr[data-run-id='{ids[2]}'] .select-run")
    select(page, ids[3])
    page.fill("#bulk-to", "archive")
    act(page, "#bulk-move")
    page.wait_for_function("document.querySelectorAll('#runs tr[data-run-id]').length === 1")
    assert rows(page) == [ids[2]]

    page.click("#deleted-link")
    page.wait_for_selector("#runs tr[data-run-id]")
    assert set(rows(page)) == {ids[0], ids[1]}
    select(page, ids[0])
    act(page, "#bulk-restore")
    page.wait_for_function("document.querySelectorAll('#runs tr[data-run-id]').length === 1")
    assert rows(page) == [ids[1]]

    with assay.Api(root) as api:
        assert {r.id for r in api.runs("bulk")} == {ids[0], ids[2]}
        assert api.run(ids[2]).tags == ["keeper"]
        assert api.run(ids[3]).project == "archive"
        assert api.run(ids[1]).deleted


def test_a_refused_bulk_action_says_why_and_changes_nothing(
    page: Any, site: tuple[str, str, list[str]]
) -> None:
    url, root, _ = site
    page.goto(f"{url}/projects/bulk")
    page.wait_for_selector("#runs tr[data-run-id]")
    first = rows(page)[0]
    select(page, first)
    page.fill("#bulk-to", "not a project!")
    page.click("#bulk-move")
    page.wait_for_function("document.querySelector('#bulk-error').textContent.length > 0")
    assert "project name" in page.text_content("#bulk-error")
    with assay.Api(root) as api:
        assert api.run(first).project == "bulk"
