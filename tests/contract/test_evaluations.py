"""The contract of ``store.evaluations``: every backend must pass all of these."""

from __future__ import annotations

from typing import Any

import pytest

from assay.errors import AssayError, InvalidInput
from assay.records import EvalItem
from assay.store import Store
from tests.conftest import StoreFactory, create_run, evaluation_draft


def test_evaluations_round_trip_on_every_backend(store_factory: StoreFactory) -> None:
    store = store_factory()
    run_id = create_run(store=store, project="p")
    first = store.evaluations.save(evaluation_draft(run_id=run_id))
    second = store.evaluations.save(evaluation_draft(baseline_id=first.id, verdict="fail"))
    assert (first.n_items, first.n_errors, first.run_id) == (2, 1, run_id)
    assert [e.id for e in store.evaluations.list("p")] == [second.id, first.id]
    assert store.evaluations.get(second.id).baseline_id == first.id
    items = store.evaluations.items(first.id)
    assert items[0].output == {"x": [1, 2]} and items[1].error == "E: x"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"verdict": "maybe"}, "verdict 'maybe'"),
        ({"items": []}, "1 to"),
        ({"baseline_id": "nope"}, "evaluation nope does not exist"),
        ({"model_version_id": "nope"}, "artifact version nope does not exist"),
        ({"project": "bad name!"}, "project name"),
        ({"report": {"summary": [{"metric": "acc\x00"}]}}, "report.summary"),
    ],
)
def test_bad_evaluations_are_refused_and_nothing_is_stored(
    store_factory: StoreFactory, changes: dict[str, Any], message: str
) -> None:

    store = store_factory()
    with pytest.raises(AssayError, match=message):
        store.evaluations.save(evaluation_draft(**changes))
    assert store.evaluations.list() == []


def test_duplicate_item_results_are_refused(store: Store) -> None:

    with pytest.raises(InvalidInput, match="unique"):
        store.evaluations.save(
            evaluation_draft(items=[EvalItem(item_id="a"), EvalItem(item_id="a")])
        )


def test_evaluations_page_with_an_offset_newest_first(store: Store) -> None:
    saved = [store.evaluations.save(evaluation_draft(name=f"e{i}")).id for i in range(5)]
    pages = [store.evaluations.list(project="p", limit=2, offset=o) for o in (0, 2, 4)]
    listed = [e.id for page in pages for e in page]
    assert sorted(listed) == sorted(saved) and len(set(listed)) == 5
    assert [len(page) for page in pages] == [2, 2, 1]
    assert listed[0] == store.evaluations.list(project="p", limit=1)[0].id
