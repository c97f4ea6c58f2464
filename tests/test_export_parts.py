"""`assay export` and `assay import assay` beyond runs and artifacts: rich values with
their blobs, traces and their feedback, prompt labels, sweeps, label projects with their
labels and consensus, feedback, the request log, traffic policies and alerts. Each comes
back into every backend with the same values, and a second import adds nothing."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

import assay
from assay.errors import ImportIncomplete
from assay.importers import bundle, export_project, import_export
from assay.media import codec
from assay.records import (
    AlertDraft,
    AnnotationDraft,
    Batch,
    BlobData,
    FeedbackDraft,
    LabelItemDraft,
    LabelProjectDraft,
    LabelSchema,
    RequestBatch,
    RequestEntry,
    Span,
    SpanEvent,
    SweepDraft,
    TraceFeedbackDraft,
    TrialClaim,
    TrialResult,
)
from assay.sdk import prompts
from assay.sdk.media import send_batch
from assay.store import Store, open_store
from tests.conftest import StoreFactory, create_run, evaluation_draft, log_model

T0 = 1_700_000_000.0
NS = 1_700_000_000_000_000_000


def _gradient(shade: int) -> np.ndarray:
    image = np.zeros((8, 10, 3), dtype=np.uint8)
    image[..., 0] = shade
    image[..., 1] = np.arange(10, dtype=np.uint8)[None, :] * 20
    return image


def _media(store: Store, run_id: str) -> None:
    values: dict[str, Any] = {
        "sample": assay.Image(
            _gradient(40), caption="cat", masks={"pred": np.eye(8, 10, dtype=np.int64)}
        ),
        "weights": assay.Histogram(np.arange(50.0), bins=5),
        "preds": assay.Table(
            [[1, "cat", float("nan"), assay.Image(_gradient(90))], [2, "dog", 0.5, None]],
            columns=["id", "label", "score", "image"],
        ),
        "answer": assay.Text("a long answer"),
        "grid": [assay.Image(_gradient(k * 60)) for k in range(2)],
    }
    ops: list[Any] = []
    blobs: dict[str, bytes] = {}
    for step in range(2):
        for key, value in values.items():
            logged = codec.check(key, value)
            assert logged is not None
            op, data = codec.encode(key, step, T0 + step, logged)
            ops.append(op)
            blobs.update(data)
    ops.append(BlobData(blobs=blobs))
    assert send_batch(store, Batch(run_id=run_id, writer="m", seq=0, ops=ops))


def _span(n: int, trace: int, **fields: Any) -> Span:
    base: dict[str, Any] = {
        "project": "p",
        "trace_id": f"{trace:032x}",
        "span_id": f"{n:016x}",
        "parent_id": None if n == 1 else f"{1:016x}",
        "name": f"step {n}",
        "start_ns": NS + trace * 10**9 + n * 1000,
        "end_ns": NS + trace * 10**9 + n * 1000 + 500,
    }
    return Span(**{**base, **fields})


def _llm(store: Store) -> None:
    store.traces.write(
        [
            _span(1, 1, name="answer", attributes={"user": "u1", "n": 3, "xs": [1.5, 2.0]}),
            _span(2, 1, model="gpt-4o", input_tokens=100, output_tokens=20, cost=0.01),
            _span(
                3,
                1,
                status="error",
                status_message="boom",
                events=[SpanEvent(name="e", time_ns=NS)],
            ),
            _span(1, 2, name="second", resource={"service.name": "bot"}),
        ]
    )
    trace = f"{1:032x}"
    store.traces.add_feedback(
        TraceFeedbackDraft(project="p", trace_id=trace, name="helpful", score=0.75, id="fb-1")
    )
    store.traces.add_feedback(
        TraceFeedbackDraft(
            project="p",
            trace_id=trace,
            span_id=f"{2:016x}",
            source="human",
            thumbs=False,
            correction={"text": "Paris"},
            comment="wrong city",
            data={"who": "reviewer"},
            id="fb-2",
        )
    )
    for tone in ("brief", "warm", "formal"):
        prompts.commit(store, "p", "support", f"Be {tone}. {{{{ question }}}}")
    store.prompts.set_label("p", "support", "production", {"0": 100}, reason="first")
    store.prompts.set_label("p", "support", "production", {"1": 90, "2": 10}, evidence="eval-3")
    store.prompts.set_label("p", "support", "staging", {"2": 100})
    store.prompts.set_label("p", "support", "staging", None, reason="done")


def _sweep(store: Store) -> None:
    sweep = store.sweeps.create(
        SweepDraft(
            project="p",
            name="lr",
            method="random",
            spec={"parameters": {"lr": {"min": 0.001, "max": 0.1}}, "metric": "loss"},
            max_trials=5,
        )
    )
    for number, state in enumerate(("complete", "pruned", "running")):
        claim = TrialClaim(
            number=number, params={"lr": 0.01 * (number + 1)}, run_id=f"t{number}", worker="w1"
        )
        store.sweeps.claim(sweep.id, claim)
        if state != "running":
            store.sweeps.finish(sweep.id, number, TrialResult(state=state, value=0.5 - number / 10))


def _served(store: Store, tmp_path: Path) -> str:
    one = log_model(store, tmp_path, b"one", name="clf")
    two = log_model(store, tmp_path, b"two", name="clf")
    store.models.register(one.id, "clf")
    store.models.register(two.id, "clf")
    store.models.set_alias("clf", "production", 1)
    store.models.set_traffic("clf", {"1": 100}, reason="start")
    store.models.set_traffic(
        "clf", {"production": 80, "1": 20}, sticky="header:user", shadow={"2": 5}
    )
    entries = [
        RequestEntry(
            model="clf",
            request_id=f"r{k}",
            time=T0 + k,
            version="1" if k % 2 else "2",
            arm="production" if k % 2 else "2",
            status=200 if k < 4 else 500,
            latency_ms=1.5 + k,
            rows=1,
            inputs={"x": [float(k)], "tags": [["a", "b"]]},
            outputs={"y": [k % 2]},
        )
        for k in range(5)
    ]
    three = {"x": [1.0, 2.0, 3.0], "tags": [["a"], [], ["c"]]}
    entries.append(
        RequestEntry(model="clf", request_id="many", time=T0 + 5, version="1", rows=3, inputs=three)
    )
    store.requests.write_batch(RequestBatch(writer="srv", seq=0, entries=entries))
    store.requests.label("clf", ["r1", "r2", "many", "many/2"], [1, 0, "all", "third"])
    monitor = create_run(store, name="monitor", at=T0)
    opened = store.alerts.open(
        AlertDraft(
            monitor_id=monitor, rule="p99_ms > 50", step=3, value=70.0, detail={"model": "clf"}
        )
    )
    assert opened is not None
    store.alerts.delivered(opened.id, "fired", {"state": "delivered", "attempts": 1, "status": 200})
    store.alerts.resolve(monitor, "p99_ms > 50", 5, 20.0)
    store.alerts.open(AlertDraft(monitor_id=monitor, rule="drift", step=4, value=0.3))
    return monitor


def _labels(store: Store) -> None:
    image = store.blobs.put(b"\x89PNG not really an image but bytes")
    made = store.labels.create(
        LabelProjectDraft(
            project="p",
            name="sentiment",
            schema=LabelSchema(kind="single", choices=["pos", "neg"], instructions="read it"),
            items=[
                LabelItemDraft(item_id="a", data={"text": "good"}),
                LabelItemDraft(item_id="b", data={"text": "bad"}, gold="neg"),
                LabelItemDraft(item_id="c", kind="image", data={"blob": image}),
            ],
            overlap=3,
        )
    )
    store.labels.load(
        made.id,
        [
            AnnotationDraft(item_id="a", annotator="ann", value="pos"),
            AnnotationDraft(item_id="a", annotator="bob", value="pos", comment="sure"),
            AnnotationDraft(item_id="a", annotator="cy", value="neg"),
            AnnotationDraft(item_id="b", annotator="ann", value="neg"),
            AnnotationDraft(item_id="c", annotator="bob", value="pos"),
        ],
    )
    task = store.labels.claim(made.id, "dee")
    assert task is not None
    store.labels.skip(made.id, task.item_id, "dee", comment="unsure")
    evaluation = store.evaluations.save(evaluation_draft())
    store.labels.add_feedback(
        FeedbackDraft(project="p", kind="rating", value=4, evaluation_id=evaluation.id, item_id="a")
    )
    store.labels.add_feedback(
        FeedbackDraft(
            project="p", kind="correction", value=1, request_id="r0", model="clf", comment="was 1"
        )
    )
    store.labels.add_feedback(
        FeedbackDraft(
            project="p", kind="rating", value=2, request_id="r3", label_project_id=made.id
        )
    )


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "source")
    run_id = create_run(store, name="trained", at=T0)
    _media(store, run_id)
    _llm(store)
    _sweep(store)
    _served(store, tmp_path)
    _labels(store)
    yield store
    store.close()


def _builtins(records: list[Any], *drop: str) -> list[Any]:
    out = []
    for record in records:
        fields = msgspec.to_builtins(record)
        out.append({k: v for k, v in fields.items() if k not in drop})
    return out


def _media_of(store: Store, run_id: str) -> list[Any]:
    return [
        (r.key, r.step, r.at, r.kind, json.dumps(r.body, sort_keys=True))
        for k in store.media.keys(run_id)
        for r in store.media.list(run_id, k.key)
    ]


def _blobs_of(store: Store, run_id: str) -> dict[str, bytes]:
    named = {
        d
        for k in store.media.keys(run_id)
        for r in store.media.list(run_id, k.key)
        for d in codec.blobs_named(r.kind, r.body, store.blobs.get)
    }
    return {d: store.blobs.get(d) for d in sorted(named)}


def _items(store: Store, project_id: str) -> list[Any]:
    """A label project's items, a review item named by what its feedback says (its id
    is the feedback's, which each store stamps)."""
    said = {
        f"feedback-{f.id}": f"feedback on {f.request_id or f.item_id}: {f.kind} {f.value}"
        for f in store.labels.feedback("p")
    }
    items = _builtins(store.labels.items(project_id), "project_id")
    return [{**i, "item_id": said.get(i["item_id"], i["item_id"])} for i in items]


def _compare(a: Store, b: Store) -> None:
    """Every part of project p in ``a`` and ``b``, value by value."""
    (run,) = [r for r in a.runs.list("p") if r.name == "trained"]
    assert _media_of(a, run.id) == _media_of(b, run.id)
    blobs = _blobs_of(a, run.id)
    assert len(blobs) == 6 and blobs == _blobs_of(b, run.id)
    image = assay.Api(store=b).run(run.id).media("sample")[1][1]
    np.testing.assert_array_equal(image.mask("pred"), np.eye(8, 10, dtype=np.int64))
    table = assay.Api(store=b).run(run.id).media("preds")[0][1].to_pandas()
    np.testing.assert_array_equal(table["image"][0].to_numpy(), _gradient(90))

    for trace in ("1", "2"):
        tid = f"{int(trace):032x}"
        assert _builtins([a.traces.get(tid, "p")], "updated_at") == _builtins(
            [b.traces.get(tid, "p")], "updated_at"
        )
    assert _builtins(a.traces.feedback("p"), "created_at", "created_by") == _builtins(
        b.traces.feedback("p"), "created_at", "created_by"
    )

    assert _builtins(a.prompts.history("p", "support"), "at", "actor") == _builtins(
        b.prompts.history("p", "support"), "at", "actor"
    )
    assert _builtins(a.prompts.list("p"), "at", "actor") == _builtins(
        b.prompts.list("p"), "at", "actor"
    )

    (sa,), (sb,) = a.sweeps.list("p"), b.sweeps.list("p")
    assert _builtins([sa], "id", "created_at", "created_by") == _builtins(
        [sb], "id", "created_at", "created_by"
    )
    times = ("sweep_id", "started_at", "finished_at")
    assert _builtins(a.sweeps.trials(sa.id), *times) == _builtins(b.sweeps.trials(sb.id), *times)

    la, lb = a.labels.find("p", "sentiment"), b.labels.find("p", "sentiment")
    kept = ("id", "created_at", "created_by")
    assert _builtins([la], *kept) == _builtins([lb], *kept)
    assert _items(a, la.id) == _items(b, lb.id)
    done = [
        x
        for x in _builtins(a.labels.annotations(la.id), "project_id", "claimed_at", "done_at")
        if x["status"] == "done"
    ]
    assert len(done) == 5 and done == _builtins(
        b.labels.annotations(lb.id), "project_id", "claimed_at", "done_at"
    )
    assert b.blobs.get(b.labels.items(lb.id)[2].data["blob"]).startswith(b"\x89PNG")

    said = ("id", "created_at", "created_by", "label_project_id", "evaluation_id")
    fa, fb = a.labels.feedback("p"), b.labels.feedback("p")
    assert sorted(map(repr, _builtins(fa, *said))) == sorted(map(repr, _builtins(fb, *said)))
    assert {f.item_id for f in fb if f.evaluation_id} == {"a"}
    routed_a = [(f.kind, f.value) for f in fa if f.label_project_id == la.id]
    routed_b = [(f.kind, f.value) for f in fb if f.label_project_id == lb.id]
    assert routed_a == routed_b == [("rating", 2)]

    assert _builtins(a.requests.list("clf"), "labels") == _builtins(
        b.requests.list("clf"), "labels"
    )
    labels = [[(lab.row, lab.label) for lab in r.labels] for r in b.requests.list("clf")]
    assert labels == [[(-1, 1)], [(-1, 1)], [(-1, 0)], [], [], [(-1, "all"), (2, "third")]]
    assert len(b.requests.list("clf")[-1].inputs["x"]) == 3  # one entry of three rows
    assert _builtins(a.models.traffic_history("clf"), "at", "actor") == _builtins(
        b.models.traffic_history("clf"), "at", "actor"
    )

    incident = ("id", "opened_at", "resolved_at")
    assert _builtins(a.alerts.list("p"), *incident) == _builtins(b.alerts.list("p"), *incident)


def test_every_part_of_a_project_round_trips_value_by_value(
    source: Store, tmp_path: Path, store_factory: StoreFactory
) -> None:
    sent = export_project(source, "p", tmp_path / "export")
    assert (sent.media_values, sent.traces, sent.spans, sent.trace_feedback) == (10, 2, 4, 2)
    assert (sent.prompt_label_moves, sent.sweeps, sent.trials) == (4, 1, 3)
    assert (sent.label_projects, sent.label_items, sent.labels_done, sent.feedback) == (1, 4, 5, 3)
    assert (sent.requests, sent.traffic_changes, sent.alerts) == (6, 2, 2)
    lines = (tmp_path / "export" / "label_projects.jsonl").read_text().splitlines()
    consensus = {r["item"]: r["label"] for r in json.loads(lines[0])["consensus"]}
    assert consensus["a"] == "pos" and consensus["b"] == "neg"
    target = store_factory()
    found = import_export(target, tmp_path / "export")
    assert found.differences(sent) == []
    _compare(source, target)
    again = import_export(target, tmp_path / "export")
    assert again.differences(sent) == []
    _compare(source, target)  # nothing doubled
    assert len(target.labels.feedback("p")) == 3 and len(target.sweeps.list("p")) == 1
    assert len(target.alerts.list("p")) == 2 and len(target.models.traffic_history("clf")) == 2


def test_a_missing_media_blob_fails_its_run_by_name(source: Store, tmp_path: Path) -> None:
    export_project(source, "p", tmp_path / "export")
    blobs = sorted((tmp_path / "export" / "blobs").iterdir())
    blobs[0].write_bytes(b"changed")
    target = open_store(tmp_path / "target")
    with pytest.raises(ImportIncomplete, match="does not hold the bytes"):
        import_export(target, tmp_path / "export")


def _stamps(store: Store) -> dict[str, Any]:
    """The ids and times a store gave the sweeps, label projects and feedback of ``p``."""
    sweeps = store.sweeps.list("p")
    projects = store.labels.list("p")
    return {
        "sweeps": sorted((s.id, s.created_at) for s in sweeps),
        "trials": sorted(
            (t.sweep_id, t.number, t.started_at, t.finished_at)
            for s in sweeps
            for t in store.sweeps.trials(s.id)
        ),
        "label_projects": sorted((p.id, p.created_at) for p in projects),
        "labels": sorted(
            (a.project_id, a.item_id, a.annotator, a.claimed_at, a.done_at)
            for p in projects
            for a in store.labels.annotations(p.id)
            if a.status == "done"
        ),
        "feedback": sorted((f.id, f.created_at) for f in store.labels.feedback("p")),
    }


def _ids(stamps: dict[str, Any]) -> set[str]:
    return {row[0] for kind in ("sweeps", "label_projects", "feedback") for row in stamps[kind]}


def _times(stamps: dict[str, Any]) -> list[float]:
    return [t for rows in stamps.values() for row in rows for t in row if isinstance(t, float)]


def test_sweeps_label_projects_and_feedback_take_the_targets_ids_and_times(
    source: Store, tmp_path: Path, store_factory: StoreFactory
) -> None:
    """Their ids and times are the target's own: no id of the source comes back (so none
    collides with what a target holds), every time is the import's, and importing again
    changes none of them; a second target gives ids of its own again."""
    export_project(source, "p", tmp_path / "export")
    before = _stamps(source)
    target = store_factory()
    start = time.time()
    import_export(target, tmp_path / "export")
    first = _stamps(target)
    assert [len(rows) for rows in first.values()] == [len(rows) for rows in before.values()]
    assert not _ids(first) & _ids(before)
    assert min(_times(first)) >= start - 1.0  # a server's clock is this machine's
    assert max(_times(before)) < start
    import_export(target, tmp_path / "export")
    assert _stamps(target) == first  # nothing re-stamped, nothing doubled
    other = open_store(tmp_path / "other")
    import_export(other, tmp_path / "export")
    assert not _ids(_stamps(other)) & (_ids(first) | _ids(before))
    other.close()


def _one_row_lines(line: dict[str, Any]) -> list[dict[str, Any]]:
    """A request as an earlier version exported it: one line per row, ``{name: value}``,
    ``<id>/<i>`` for the rows of a request of several, its label inline."""
    n = line["rows"]
    labels = {lab["row"]: lab for lab in line["labels"]}
    out = []
    for i in range(max(n, 1)):
        joined = labels.get(i, labels.get(-1))
        fields = {k: v for k, v in line.items() if k not in ("rows", "labels")}
        out.append(
            {
                **fields,
                "request_id": line["request_id"] if n <= 1 else f"{line['request_id']}/{i}",
                "inputs": {k: v[i] for k, v in line["inputs"].items() if i < len(v)},
                "outputs": {k: v[i] for k, v in line["outputs"].items() if i < len(v)},
                "label": None if joined is None else joined["label"],
                "labelled_at": None if joined is None else joined["at"],
            }
        )
    return out


def test_a_request_log_exported_one_row_a_line_imports_as_the_same_rows(
    source: Store, tmp_path: Path
) -> None:
    export_project(source, "p", tmp_path / "export")
    path = tmp_path / "export" / "requests" / "clf.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    old = [row for line in lines for row in _one_row_lines(line)]
    path.write_text("".join(json.dumps(row) + "\n" for row in old))
    manifest = tmp_path / "export" / bundle.MANIFEST  # as that version counted: rows
    header = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**header, "counts": {**header["counts"], "requests": 8}}))
    target = open_store(tmp_path / "target")
    found = import_export(target, tmp_path / "export")
    assert found.requests == 8  # five requests of one row, the three rows of another
    with assay.Api(store=source) as api:
        before = api.requests("clf").drop(columns="labelled_at")
    with assay.Api(store=target) as api:
        after = api.requests("clf").drop(columns="labelled_at")
    assert list(after["request_id"]) == ["r0", "r1", "r2", "r3", "r4", "many/0", "many/1", "many/2"]
    assert after.equals(before)


def _review_items(store: Store, project_id: str) -> dict[str, dict[str, Any]]:
    """A label project's review items (routed feedback) by item id: data and done labels."""
    done = [a for a in store.labels.annotations(project_id) if a.status == "done"]
    return {
        i.item_id: {
            "position": i.position,
            "kind": i.kind,
            "data": i.data,
            "labels": sorted((a.annotator, a.value) for a in done if a.item_id == i.item_id),
        }
        for i in store.labels.items(project_id)
        if i.item_id.startswith("feedback-")
    }


def test_routed_feedback_keeps_its_label_project_and_review_item(
    source: Store, tmp_path: Path, store_factory: StoreFactory
) -> None:
    """Feedback routed into a label project comes back linked to the imported label
    project, and its review item, in its place in the queue and with its labels, names
    the imported feedback's id (and the imported evaluation); importing again changes
    nothing."""
    made = source.labels.find("p", "sentiment")
    evaluation = next(f.evaluation_id for f in source.labels.feedback("p") if f.evaluation_id)
    assert evaluation is not None
    on_item = source.labels.add_feedback(
        FeedbackDraft(
            project="p",
            kind="correction",
            value="neg",
            evaluation_id=evaluation,
            item_id="b",
            label_project_id=made.id,
        )
    )
    source.labels.add_items(made.id, [LabelItemDraft(item_id="d", data={"text": "meh"})])
    routed = {f.id: f for f in source.labels.feedback("p") if f.label_project_id}
    assert len(routed) == 2 and on_item.id in routed
    source.labels.load(
        made.id,
        [AnnotationDraft(item_id=f"feedback-{on_item.id}", annotator="ann", value="neg")],
    )
    sent = export_project(source, "p", tmp_path / "export")
    target = store_factory()
    import_export(target, tmp_path / "export")

    imported = target.labels.find("p", "sentiment")
    linked = {f.id: f for f in target.labels.feedback("p") if f.label_project_id is not None}
    assert len(linked) == 2
    assert {f.label_project_id for f in linked.values()} == {imported.id}
    new_evaluation = next(f.evaluation_id for f in linked.values() if f.evaluation_id)
    assert new_evaluation != evaluation

    def renamed(old_id: str) -> str:
        (new,) = [
            f.id
            for f in linked.values()
            if (f.kind, f.value, f.request_id)
            == (routed[old_id].kind, routed[old_id].value, routed[old_id].request_id)
        ]
        return f"feedback-{new}"

    expected = {}
    for item_id, item in _review_items(source, made.id).items():
        source_of = dict(item["data"]["source"])
        if "evaluation_id" in source_of:
            source_of["evaluation_id"] = new_evaluation
        expected[renamed(item_id.removeprefix("feedback-"))] = {
            **item,
            "data": {**item["data"], "source": source_of},
        }
    assert _review_items(target, imported.id) == expected
    assert [i.item_id for i in target.labels.items(imported.id)][-1] == "d"
    first = _stamps(target), _review_items(target, imported.id)

    again = import_export(target, tmp_path / "export")
    assert again.differences(sent) == []
    assert (_stamps(target), _review_items(target, imported.id)) == first
    assert len(target.labels.items(imported.id)) == len(source.labels.items(made.id))


def test_routed_feedback_the_target_holds_unlinked_is_named_not_doubled(
    source: Store, tmp_path: Path
) -> None:
    """A target holding the routed feedback without its link (and its review item under
    the exported id, as an import that did not route it left it) is not routed a second
    time: the import names the feedback and the label project it is not routed into."""
    export_project(source, "p", tmp_path / "export")
    unlinked = tmp_path / "unlinked"
    shutil.copytree(tmp_path / "export", unlinked)
    lines = [json.loads(line) for line in (unlinked / "feedback.jsonl").read_text().splitlines()]
    (routed,) = [line["id"] for line in lines if line["label_project_id"]]
    for line in lines:
        line["label_project_id"] = None
    (unlinked / "feedback.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    target = open_store(tmp_path / "target")
    import_export(target, unlinked)
    with pytest.raises(ImportIncomplete, match=f"feedback {routed}: the target holds it as"):
        import_export(target, tmp_path / "export")
    assert len(target.labels.feedback("p")) == 3
    assert not [f for f in target.labels.feedback("p") if f.label_project_id]
    (project,) = target.labels.list("p")
    assert f"feedback-{routed}" in {i.item_id for i in target.labels.items(project.id)}
    target.close()
