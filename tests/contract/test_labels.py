"""The contract of ``store.labels``: every backend must pass all of these. Concurrent
claims race on the SQL backends (SQLite and PostgreSQL), in threads and in processes."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from assay.errors import Conflict, InvalidInput, NotFound
from assay.records import (
    AnnotationDraft,
    FeedbackDraft,
    LabelItemDraft,
    LabelProjectDraft,
    LabelSchema,
    RequestBatch,
    RequestEntry,
)
from assay.store import Store
from assay.store.base import open_store
from tests.conftest import StoreFactory, evaluation_draft
from tests.contract.test_requests import registered

CHOICE = LabelSchema(kind="single", choices=["pos", "neg"])


def draft(n: int = 4, **changes: Any) -> LabelProjectDraft:
    fields: dict[str, Any] = {
        "project": "p",
        "name": "sentiment",
        "schema": CHOICE,
        "items": [LabelItemDraft(item_id=f"i{k}", data={"text": f"t{k}"}) for k in range(n)],
        "overlap": 2,
    }
    return LabelProjectDraft(**{**fields, **changes})


def test_a_project_round_trips_with_its_items(store_factory: StoreFactory) -> None:
    store = store_factory()
    items = [
        LabelItemDraft(item_id="a", kind="text", data={"text": "good"}),
        LabelItemDraft(item_id="b", kind="row", data={"row": {"x": 1}}, gold="neg"),
    ]
    made = store.labels.create(draft(items=items, gold_rate=0.2))
    assert (made.n_items, made.n_gold, made.overlap, made.schema) == (2, 1, 2, CHOICE)
    assert store.labels.get(made.id) == made == store.labels.find("p", "sentiment")
    assert [p.id for p in store.labels.list("p")] == [made.id]
    assert store.labels.list("other") == []
    stored = store.labels.items(made.id)
    assert [(i.item_id, i.gold, i.needed, i.taken) for i in stored] == [
        ("a", None, 2, 0),
        ("b", "neg", 2, 0),
    ]
    assert stored[1].data == {"row": {"x": 1}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema": LabelSchema(kind="single", choices=["x"])}, "2 or more distinct choices"),
        ({"schema": LabelSchema(kind="stars")}, "label kind 'stars'"),
        ({"schema": LabelSchema(kind="rating", low=5, high=1)}, "low < high"),
        ({"overlap": 0}, "overlap"),
        ({"routing": "clever"}, "routing 'clever'"),
        ({"gold_rate": 1.5}, "gold_rate"),
        ({"budget": 0.0}, "budget must be in"),
        ({"budget": 1.2}, "budget must be in"),
        ({"items": [LabelItemDraft(item_id="a"), LabelItemDraft(item_id="a")]}, "appears twice"),
        ({"items": [LabelItemDraft(item_id="a", gold="maybe")]}, "does not fit the schema"),
        ({"items": [LabelItemDraft(item_id="a", kind="video")]}, "kind 'video'"),
        ({"source_version_id": "nope"}, "artifact version nope does not exist"),
    ],
)
def test_bad_projects_are_refused_and_nothing_is_stored(
    store_factory: StoreFactory, changes: dict[str, Any], message: str
) -> None:
    store = store_factory()
    with pytest.raises((InvalidInput, NotFound), match=message):
        store.labels.create(draft(**changes))
    assert store.labels.list() == []


def test_a_second_project_of_the_same_name_is_a_conflict(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.labels.create(draft())
    with pytest.raises(Conflict, match="already"):
        store.labels.create(draft())


def _label_all(store: Store, project_id: str, annotator: str, value: str = "pos") -> list[str]:
    done = []
    while (task := store.labels.claim(project_id, annotator)) is not None:
        store.labels.submit(project_id, task.item_id, annotator, value)
        done.append(task.item_id)
    return done


def test_each_item_gets_overlap_labels_and_nobody_sees_an_item_twice(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=3, overlap=2))
    first = _label_all(store, made.id, "ann")
    second = _label_all(store, made.id, "bob")
    third = _label_all(store, made.id, "cy")
    assert sorted(first) == sorted(second) == ["i0", "i1", "i2"]
    assert third == []
    done = store.labels.annotations(made.id)
    assert Counter(a.item_id for a in done) == {"i0": 2, "i1": 2, "i2": 2}
    assert {a.status for a in done} == {"done"}
    with pytest.raises(Conflict, match="already done"):
        store.labels.submit(made.id, "i0", "ann", "neg")


def test_a_claim_is_given_back_until_it_is_answered(store_factory: StoreFactory) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=2, overlap=1))
    task = store.labels.claim(made.id, "ann")
    again = store.labels.claim(made.id, "ann")
    assert task is not None and again is not None and again.item_id == task.item_id


def test_labels_outside_the_schema_are_refused(store_factory: StoreFactory) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=1))
    task = store.labels.claim(made.id, "ann")
    assert task is not None
    with pytest.raises(InvalidInput, match="one of 'pos', 'neg'"):
        store.labels.submit(made.id, task.item_id, "ann", "meh")
    with pytest.raises(Conflict, match="not claimed"):
        store.labels.submit(made.id, task.item_id, "bob", "pos")
    assert store.labels.submit(made.id, task.item_id, "ann", "neg", comment="sarcastic").comment


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        (LabelSchema(kind="multi", choices=["a", "b", "c"]), ["c", "a"], ["a", "a"]),
        (LabelSchema(kind="rating", low=1, high=5), 4, 6),
        (LabelSchema(kind="text"), "fine text", ""),
        (LabelSchema(kind="pairwise"), "B", "tie"),
    ],
)
def test_every_schema_kind_checks_its_values(
    store_factory: StoreFactory, schema: LabelSchema, good: Any, bad: Any
) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=1, schema=schema))
    task = store.labels.claim(made.id, "ann")
    assert task is not None
    with pytest.raises(InvalidInput, match="does not fit the schema"):
        store.labels.submit(made.id, task.item_id, "ann", bad)
    stored = store.labels.submit(made.id, task.item_id, "ann", good)
    assert stored.value == (["a", "c"] if schema.kind == "multi" else good)


def test_a_skip_frees_the_slot_for_someone_else(store_factory: StoreFactory) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=1, overlap=1))
    task = store.labels.claim(made.id, "ann")
    assert task is not None
    assert store.labels.skip(made.id, task.item_id, "ann", "unclear").status == "skipped"
    assert store.labels.claim(made.id, "ann") is None  # never the same item again
    other = store.labels.claim(made.id, "bob")
    assert other is not None and other.item_id == task.item_id


def test_gold_items_are_mixed_in_and_never_revealed(store_factory: StoreFactory) -> None:
    store = store_factory()
    items = [LabelItemDraft(item_id="g", gold="neg"), LabelItemDraft(item_id="x")]
    made = store.labels.create(draft(items=items, gold_rate=0.99, overlap=1))
    seen = []
    while (task := store.labels.claim(made.id, "ann")) is not None:
        assert not hasattr(task, "gold")
        store.labels.submit(made.id, task.item_id, "ann", "pos")
        seen.append(task.item_id)
    assert sorted(seen) == ["g", "x"]
    gold = next(i for i in store.labels.items(made.id) if i.item_id == "g")
    assert gold.taken == 0  # gold items take no slot of the overlap


def test_routing_gives_extra_labels_to_good_annotators_first_and_to_anyone_after(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=2, overlap=3, routing="adaptive", min_labels=1))
    assert [i.needed for i in store.labels.items(made.id)] == [1, 1]
    _label_all(store, made.id, "ann")
    assert store.labels.claim(made.id, "bob") is None
    store.labels.route(made.id, {"i0": 2, "i1": 2}, {"i0": 0.8}, {"ann": 0.9, "bob": 0.6})
    first = store.labels.claim(made.id, "bob")  # i1 wants no quality; i0 wants 0.8
    assert first is not None and first.item_id == "i1"
    store.labels.submit(made.id, "i1", "bob", "pos")
    second = store.labels.claim(made.id, "bob")  # nobody better asked: bob rather than no one
    assert second is not None and second.item_id == "i0"
    assert store.labels.claim(made.id, "cy") is None  # every slot is taken
    with pytest.raises(InvalidInput, match="needed must be 1 to 3"):
        store.labels.route(made.id, {"i1": 4}, None, {})


def test_routing_prefers_annotators_good_at_that_kind_of_item(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    items = [
        LabelItemDraft(item_id="law", data={"text": "a clause", "group": "legal"}),
        LabelItemDraft(item_id="news", data={"text": "a headline", "group": "news"}),
    ]
    made = store.labels.create(
        draft(items=items, overlap=3, routing="adaptive", min_labels=1, budget=1.0)
    )
    assert store.labels.get(made.id).budget == 1.0
    _label_all(store, made.id, "ann")
    store.labels.route(
        made.id,
        {"law": 2, "news": 2},
        {"law": 0.8, "news": 0.8},
        {"ann": 0.9, "bob": 0.6, "cy": 0.95},
        kind_quality={"legal": {"bob": 0.9, "cy": 0.5}},
    )
    # bob is weak overall but strong on legal items; cy is the reverse
    got_bob = store.labels.claim(made.id, "bob")
    assert got_bob is not None and got_bob.item_id == "law"
    got_cy = store.labels.claim(made.id, "cy")
    assert got_cy is not None and got_cy.item_id == "news"
    with pytest.raises(InvalidInput, match="quality of 'bob' for 'legal' must be in"):
        store.labels.route(made.id, {}, None, {}, kind_quality={"legal": {"bob": 1.5}})
    with pytest.raises(InvalidInput, match="min_quality names item 'zz'"):
        store.labels.route(made.id, {"law": 2}, {"zz": 0.5}, {})


def test_labels_collected_elsewhere_are_imported(store_factory: StoreFactory) -> None:
    store = store_factory()
    made = store.labels.create(draft(n=2, overlap=1))
    rows = [
        AnnotationDraft(item_id="i0", annotator="w1", value="pos"),
        AnnotationDraft(item_id="i0", annotator="w2", value="neg"),
    ]
    assert store.labels.load(made.id, rows) == 2
    item = store.labels.items(made.id)[0]
    assert (item.taken, item.needed) == (2, 2)
    with pytest.raises(Conflict, match="already has a turn"):
        store.labels.load(made.id, rows[:1])
    with pytest.raises(NotFound, match="item 'zz'"):
        store.labels.load(made.id, [AnnotationDraft(item_id="zz", annotator="w", value="pos")])
    with pytest.raises(InvalidInput, match="twice"):
        store.labels.load(made.id, [rows[0], rows[0]])
    assert len(store.labels.annotations(made.id)) == 2
    assert store.labels.annotations(made.id, "w2")[0].value == "neg"


def _serve(store: Store, tmp_path: Path, model: str, *ids: str, seq: int = 0) -> None:
    """Entries of ``model`` in the request log, as ``assay serve`` writes them."""
    registered(store, tmp_path, model)
    entries = [
        RequestEntry(
            model=model,
            request_id=rid,
            time=1000.0 + k,
            version="3",
            rows=1,
            inputs={"text": [f"film {rid}"]},
            outputs={"label": ["pos"]},
        )
        for k, rid in enumerate(ids)
    ]
    store.requests.write_batch(RequestBatch(writer=f"w-{model}", seq=seq, entries=entries))


def test_feedback_on_a_row_of_a_request_of_several_finds_that_row(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = store_factory()
    registered(store, tmp_path, "clf")
    texts = {"text": ["a", "b", "c"]}
    batch = RequestEntry(
        model="clf",
        request_id="req",
        time=1000.0,
        version="3",
        rows=3,
        inputs=texts,
        outputs={"label": ["pos", "neg", "pos"]},
    )
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=[batch]))
    review = store.labels.create(draft(n=1, name="review"))
    fixed = FeedbackDraft(
        project="p", kind="correction", value="neg", request_id="req/2", label_project_id=review.id
    )
    assert store.labels.add_feedback(fixed).model == "clf"
    added = store.labels.items(review.id)[-1]
    assert added.data["input"] == {"text": "c"} and added.data["output"] == {"label": "pos"}
    (logged,) = store.requests.list("clf")
    assert [(lab.row, lab.label) for lab in logged.labels] == [(2, "neg")]
    with pytest.raises(NotFound, match="req/3"):
        store.labels.add_feedback(msgspec.structs.replace(fixed, request_id="req/3"))


def test_feedback_is_kept_by_request_id_and_can_be_routed_for_review(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = store_factory()
    _serve(store, tmp_path, "clf", "req-1", "req-2")
    review = store.labels.create(draft(n=1, name="review"))
    rated = store.labels.add_feedback(
        FeedbackDraft(project="p", kind="rating", value=2, request_id="req-1", comment="vague")
    )
    routed = store.labels.add_feedback(
        FeedbackDraft(
            project="p",
            kind="correction",
            value="neg",
            request_id="req-2",
            data={"note": "sarcasm"},
            label_project_id=review.id,
        )
    )
    assert [f.id for f in store.labels.feedback(request_id="req-1")] == [rated.id]
    assert {f.id for f in store.labels.feedback(project="p")} == {rated.id, routed.id}
    assert rated.model == routed.model == "clf"  # found from the request log
    added = store.labels.items(review.id)[-1]
    assert added.item_id == f"feedback-{routed.id}" and added.kind == "output"
    assert added.data["feedback"]["value"] == "neg" and added.data["note"] == "sarcasm"
    # the reviewer sees the served prediction itself, from the request log
    assert added.data["input"] == {"text": "film req-2"}
    assert added.data["output"] == {"label": "pos"} and added.data["version"] == "3"
    assert added.data["source"] == {"request_id": "req-2", "model": "clf"}


def test_a_correction_on_a_served_prediction_becomes_its_label_in_the_request_log(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = store_factory()
    _serve(store, tmp_path, "clf", "req-1", "req-2")
    store.labels.add_feedback(
        FeedbackDraft(project="p", kind="correction", value="neg", request_id="req-2")
    )
    store.labels.add_feedback(
        FeedbackDraft(project="p", kind="rating", value=1, request_id="req-1")
    )
    logged = {e.request_id: e for e in store.requests.list("clf")}
    (joined,) = logged["req-2"].labels
    assert (joined.row, joined.label) == (-1, "neg") and joined.at > 0
    assert logged["req-1"].labels == []  # a rating is feedback, not ground truth
    assert [f.kind for f in store.labels.feedback(model="clf", request_id="req-1")] == ["rating"]
    assert store.labels.feedback(model="other") == []


def test_feedback_names_the_model_when_two_served_the_same_request_id(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = store_factory()
    _serve(store, tmp_path, "clf", "req-1")
    _serve(store, tmp_path, "ranker", "req-1")
    asked: dict[str, Any] = {"project": "p", "kind": "rating", "value": 4, "request_id": "req-1"}
    with pytest.raises(InvalidInput, match="models 'clf', 'ranker': name the model"):
        store.labels.add_feedback(FeedbackDraft(**asked))
    given = store.labels.add_feedback(FeedbackDraft(**asked, model="ranker"))
    assert given.model == "ranker"
    with pytest.raises(NotFound, match="not in the request log of model 'clf'"):
        store.labels.add_feedback(FeedbackDraft(**{**asked, "request_id": "req-9"}, model="clf"))
    assert [f.id for f in store.labels.feedback()] == [given.id]


def test_feedback_on_an_evaluation_item(store_factory: StoreFactory) -> None:
    store = store_factory()
    evaluation = store.evaluations.save(evaluation_draft())
    given = store.labels.add_feedback(
        FeedbackDraft(
            project="p", kind="preference", value="B", evaluation_id=evaluation.id, item_id="a"
        )
    )
    assert [f.id for f in store.labels.feedback(evaluation_id=evaluation.id)] == [given.id]
    with pytest.raises(InvalidInput, match="names the item"):
        store.labels.add_feedback(
            FeedbackDraft(project="p", kind="rating", value=1, evaluation_id=evaluation.id)
        )
    with pytest.raises(InvalidInput, match="is not in project 'q'"):
        store.labels.add_feedback(
            FeedbackDraft(
                project="q", kind="rating", value=1, evaluation_id=evaluation.id, item_id="a"
            )
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "vibe"}, "feedback kind 'vibe'"),
        ({"value": "five"}, "a rating is a finite number"),
        ({"request_id": None}, "either a request id or an evaluation"),
        ({"evaluation_id": "e1"}, "either a request id or an evaluation"),
        ({"label_project_id": "nope"}, "label project nope does not exist"),
        ({"request_id": "r9"}, "request 'r9' is not in the request log"),
        ({"request_id": None, "evaluation_id": "e1", "model": "clf"}, "names a model only"),
    ],
)
def test_bad_feedback_is_refused(
    store_factory: StoreFactory, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    store = store_factory()
    _serve(store, tmp_path, "clf", "r")
    fields: dict[str, Any] = {"project": "p", "kind": "rating", "value": 3, "request_id": "r"}
    with pytest.raises((InvalidInput, NotFound), match=message):
        store.labels.add_feedback(FeedbackDraft(**{**fields, **changes}))
    assert store.labels.feedback() == []


# ---- concurrency: two annotators never both get the last slot of an item ----------------------


def _race_threads(store: Store, project_id: str, annotators: list[str]) -> list[str | None]:
    barrier = threading.Barrier(len(annotators))
    got: list[str | None] = [None] * len(annotators)

    def claim(k: int) -> None:
        barrier.wait()
        task = store.labels.claim(project_id, annotators[k])
        got[k] = None if task is None else task.item_id

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(len(annotators))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_concurrent_claims_in_threads_never_overfill_an_item(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    made = store.labels.create(draft(n=3, overlap=2))
    got = _race_threads(store, made.id, [f"a{k}" for k in range(8)])
    taken = Counter(g for g in got if g is not None)
    assert taken == {"i0": 2, "i1": 2, "i2": 2}
    assert got.count(None) == 2
    assert [i.taken for i in store.labels.items(made.id)] == [2, 2, 2]


def _claim_in_process(uri: str, project_id: str, annotator: str, start: Any, out: Any) -> None:
    store = open_store(uri)
    try:
        start.wait()
        task = store.labels.claim(project_id, annotator)
        out.put((annotator, None if task is None else task.item_id))
    finally:
        store.close()


def test_concurrent_claims_in_processes_never_overfill_an_item(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = sql_store_factory()
    uri = getattr(store, "uri", "")
    if "://" not in uri:
        uri = str(uri)
    made = store.labels.create(draft(n=1, overlap=1))
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=_claim_in_process, args=(uri, made.id, f"a{k}", start, out))
        for k in range(4)
    ]
    for w in workers:
        w.start()
    start.set()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    winners = [a for a, item in results if item is not None]
    assert len(winners) == 1
    assert store.labels.items(made.id)[0].taken == 1
    assert [a.annotator for a in store.labels.annotations(made.id)] == winners
