"""Label projects end to end through the SDK and the CLI: made from a file or a dataset
version, labelled by simulated annotators, routed adaptively, exported with lineage;
feedback on served predictions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import assay
from assay.artifacts.artifact import Artifact, download, log_artifact
from assay.cli.main import cli
from assay.errors import InvalidInput
from assay.labeling import aggregate
from assay.labeling.routing import plan
from assay.records import RequestBatch, RequestEntry
from assay.sdk import labels
from assay.store import Store
from assay.store.base import open_store

SCHEMA = {"kind": "single", "choices": ["pos", "neg"]}


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "store")
    yield store
    store.close()


def _table(tmp_path: Path, n: int = 6, suffix: str = ".csv") -> Path:
    frame = pd.DataFrame(
        {
            "id": [f"r{k}" for k in range(n)],
            "text": [f"review {k}" for k in range(n)],
            "truth": ["pos" if k % 2 else "neg" for k in range(n)],
        }
    )
    path = tmp_path / f"items{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_project_is_made_from_a_table_file(local: Store, tmp_path: Path, suffix: str) -> None:
    made = labels.create(
        "p",
        "s",
        SCHEMA,
        data=_table(tmp_path, suffix=suffix),
        id_column="id",
        text_column="text",
        store=local,
    )
    items = local.labels.items(made.id)
    assert [i.item_id for i in items][:2] == ["r0", "r1"]
    assert items[0].kind == "text" and items[0].data == {"text": "review 0"}


def test_a_project_is_made_from_a_dataset_version_and_names_it(
    local: Store, tmp_path: Path
) -> None:
    art = Artifact("reviews", type="dataset")
    art.add_file(_table(tmp_path))
    version = log_artifact(local, art, "p")
    made = labels.create(
        "p",
        "s",
        SCHEMA,
        dataset="reviews:latest",
        id_column="id",
        gold_column="truth",
        store=local,
    )
    assert made.source_version_id == version.id and made.n_gold == 6
    assert local.labels.items(made.id)[0].data == {"row": {"id": "r0", "text": "review 0"}}


def test_rows_without_a_text_column_become_table_rows_and_outputs_pairs(
    local: Store,
) -> None:
    frame = pd.DataFrame({"q": ["2+2"], "x": ["4"], "y": ["5"]})
    pair = labels.create(
        "p",
        "pair",
        {"kind": "pairwise"},
        data=frame,
        input_column="q",
        pair_columns=("x", "y"),
        store=local,
    )
    assert local.labels.items(pair.id)[0].data == {"prompt": "2+2", "a": "4", "b": "5"}
    judged = labels.create(
        "p",
        "judge",
        {"kind": "rating", "low": 1, "high": 3},
        data=frame,
        input_column="q",
        output_column="x",
        store=local,
    )
    assert local.labels.items(judged.id)[0].kind == "output"


def test_bad_project_input_is_refused_with_a_reason(local: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="exactly one of"):
        labels.create("p", "s", SCHEMA, store=local)
    with pytest.raises(InvalidInput, match="adaptive routing needs"):
        labels.create(
            "p", "s", {"kind": "text"}, data=_table(tmp_path), routing="adaptive", store=local
        )
    with pytest.raises(InvalidInput, match="no rows"):
        labels.create("p", "s", SCHEMA, data=pd.DataFrame({"a": []}), store=local)
    with pytest.raises(InvalidInput, match="missing"):
        labels.create("p", "s", SCHEMA, data=_table(tmp_path), text_column="nope", store=local)


def _simulate(
    store: Store, project_id: str, skill: dict[str, float], truth: dict[str, str]
) -> None:
    """Annotators of known accuracy take turns until nobody gets an item."""
    rng = random.Random(3)
    busy = True
    while busy:
        busy = False
        for name, accuracy in skill.items():
            task = store.labels.claim(project_id, name)
            if task is None:
                continue
            busy = True
            right = truth[task.item_id]
            value = right if rng.random() < accuracy else ("neg" if right == "pos" else "pos")
            store.labels.submit(project_id, task.item_id, name, value)
            labels.reroute(store, project_id)


def test_adaptive_routing_spends_labels_only_where_the_consensus_is_unsure(
    local: Store,
) -> None:
    n = 40
    truth = {f"i{k}": ("pos" if k % 3 else "neg") for k in range(n)}
    frame = pd.DataFrame({"id": list(truth), "text": list(truth)})
    made = labels.create(
        "p",
        "s",
        SCHEMA,
        data=frame,
        id_column="id",
        text_column="text",
        routing="adaptive",
        min_labels=2,
        overlap=5,
        confidence=0.9,
        store=local,
    )
    skill = {"a1": 0.95, "a2": 0.9, "a3": 0.85, "a4": 0.6, "a5": 0.55}
    _simulate(local, made.id, skill, truth)
    done = [a for a in local.labels.annotations(made.id) if a.status == "done"]
    per_item = pd.Series([a.item_id for a in done]).value_counts()
    assert per_item.min() >= 2 and per_item.max() <= 5
    assert (per_item < 5).mean() > 0.5  # most items stop before full redundancy
    result = labels.consensus(made.id, store=local)
    by_item = result.labels.set_index("item")
    stopped = per_item[per_item < 5].index
    # an item stops short of the overlap only once the consensus is sure of it
    assert (by_item.loc[stopped, "confidence"] >= 0.9).all()
    found = by_item["label"].reindex(list(truth))
    right = (found.to_numpy() == pd.Series(truth).to_numpy()).mean()
    assert right >= 0.9


def test_the_router_prefers_good_annotators_for_extra_labels() -> None:
    table = pd.DataFrame(
        {
            "item": ["x", "x", "y", "y", "z", "z"],
            "worker": ["good", "bad", "good", "bad", "good", "bad"],
            "label": ["pos", "neg", "pos", "pos", "neg", "neg"],
        }
    )
    decided = plan(table, {"x": 2, "y": 2, "z": 2}, min_labels=2, overlap=3, confidence=0.95)
    assert decided.needed.get("x") == 3  # the split item asks for a third label
    assert set(decided.min_quality) <= set(decided.needed) and set(decided.quality) == {
        "good",
        "bad",
    }


def _split_votes(n: int, workers: list[str]) -> pd.DataFrame:
    """n items, each with one 'pos' and one 'neg' vote from a pair of workers."""
    rows = []
    for k in range(n):
        first, second = workers[k % len(workers)], workers[(k + 1) % len(workers)]
        rows += [(f"i{k}", first, "pos"), (f"i{k}", second, "neg")]
    return pd.DataFrame(rows, columns=["item", "worker", "label"])


def test_the_router_stays_within_its_budget_least_confident_first() -> None:
    table = _split_votes(10, ["w0", "w1", "w2", "w3", "w4", "w5"])
    sure = pd.DataFrame(
        [("s", w, "pos") for w in ("w0", "w1", "w2")], columns=["item", "worker", "label"]
    )
    table = pd.concat([table, sure], ignore_index=True)
    needs = {f"i{k}": 2 for k in range(10)} | {"s": 3}
    free = plan(table, needs, min_labels=2, overlap=4, confidence=0.99)
    assert "s" not in free.needed  # three agreeing votes: sure enough
    assert len(free.needed) == 10  # every split item asks for one more label
    # budget 0.55 of 4 x 11 = 24 labels, 23 given: room for one more
    capped = plan(table, needs, min_labels=2, overlap=4, confidence=0.99, budget=0.55)
    assert len(capped.needed) == 1 and set(capped.needed) <= set(free.needed)
    assert plan(table, needs, min_labels=2, overlap=4, confidence=0.99, budget=0.5).needed == {}


def test_a_budget_is_spent_on_the_least_confident_items_even_above_confidence() -> None:
    rows = [(item, w, "pos") for item in ("x", "y") for w in ("w0", "w1", "w2")]
    rows.append(("z", "w0", "pos"))
    rows += [("z", "w1", "pos"), ("z", "w2", "neg")]
    table = pd.DataFrame(rows, columns=["item", "worker", "label"])
    needs = {"x": 3, "y": 3, "z": 3}
    assert plan(table, needs, min_labels=3, overlap=5, confidence=0.6).needed == {}
    spent = plan(table, needs, min_labels=3, overlap=5, confidence=0.6, budget=0.8)
    assert next(iter(spent.needed)) == "z"  # the least confident item first
    assert spent.needed == {"z": 4, "x": 4, "y": 4}  # 9 + 3 labels within 0.8 x 5 x 3


def test_annotator_quality_is_estimated_per_kind_of_item() -> None:
    rows = []
    truth = {f"a{k}": "pos" for k in range(8)} | {f"b{k}": "neg" for k in range(8)}
    for item, right in truth.items():
        wrong = "neg" if right == "pos" else "pos"
        rows += [(item, "x", right), (item, "y", right)]
        # z knows kind A and gets every item of kind B wrong
        rows.append((item, "z", right if item.startswith("a") else wrong))
    table = pd.DataFrame(rows, columns=["item", "worker", "label"])
    kinds = {item: ("A" if item.startswith("a") else "B") for item in truth}
    decided = plan(
        table, dict.fromkeys(truth, 3), min_labels=3, overlap=5, confidence=0.5, kinds=kinds
    )
    by_kind = decided.kind_quality
    assert by_kind["A"]["z"] > 0.75 and by_kind["B"]["z"] < 0.25
    assert by_kind["B"]["x"] > by_kind["B"]["z"]


def test_an_annotator_with_few_labels_is_rated_near_the_crowd_not_above_proven_ones() -> None:
    rows = []
    for k in range(20):
        right = "pos" if k % 2 else "neg"
        wrong = "neg" if k % 2 else "pos"
        rows += [(f"i{k}", "a", right), (f"i{k}", "b", right)]
        rows.append((f"i{k}", "c", wrong if k % 5 == 0 else right))
    rows.append(("i1", "new", "pos"))  # one label, agreeing with a sure consensus
    table = pd.DataFrame(rows, columns=["item", "worker", "label"])
    needs = {f"i{k}": 3 for k in range(20)}
    decided = plan(table, needs, min_labels=3, overlap=5, confidence=0.5)
    quality = decided.quality
    workers = aggregate(table, "auto").workers.set_index("worker")["accuracy"]
    assert workers["new"] > workers["a"]  # unshrunk, one lucky label outranks 20 good ones
    assert quality["new"] < quality["a"] and quality["new"] < quality["b"]
    assert quality["c"] < quality["new"] < workers["new"]  # pulled towards the crowd
    assert quality["a"] > 0.9 and quality["c"] < quality["a"]


def test_gold_answers_score_each_annotator(local: Store, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": ["g1", "g2", "x"], "text": ["a", "b", "c"], "gold": ["pos", "neg", None]}
    )
    made = labels.create(
        "p",
        "s",
        SCHEMA,
        data=frame,
        id_column="id",
        text_column="text",
        gold_column="gold",
        overlap=1,
        gold_rate=0.5,
        store=local,
    )
    for name, answer in (("good", {"g1": "pos", "g2": "neg"}), ("bad", {"g1": "neg", "g2": "pos"})):
        while (task := local.labels.claim(made.id, name)) is not None:
            local.labels.submit(made.id, task.item_id, name, answer.get(task.item_id, "pos"))
    shown = labels.report(made.id, store=local)
    gold = {r["worker"]: r.get("gold_accuracy") for r in shown.annotators}
    assert gold["good"] == 1.0 and gold["bad"] == 0.0


def test_export_makes_a_dataset_version_with_lineage_to_the_project(
    local: Store, tmp_path: Path
) -> None:
    made = labels.create(
        "p",
        "s",
        SCHEMA,
        data=_table(tmp_path, 3),
        id_column="id",
        text_column="text",
        overlap=2,
        store=local,
    )
    for name in ("ann", "bob"):
        while (task := local.labels.claim(made.id, name)) is not None:
            local.labels.submit(
                made.id,
                task.item_id,
                name,
                "pos" if task.item_id != "r2" or name == "ann" else "neg",
            )
    version = labels.export(made.id, "reviews-labelled", store=local)
    assert version.type == "dataset" and version.metadata["label_project"]["id"] == made.id
    assert set(version.metadata["annotators"]) == {"ann", "bob"}
    assert version.metadata["method"] in {"mv", "ds", "one-coin", "glad"}
    table = pd.read_csv(download(local, version, tmp_path / "out") / "labels.csv")
    assert list(table.columns) == ["item", "label", "confidence", "n_labels"]
    assert table["n_labels"].tolist() == [2, 2, 2]


def test_feedback_attaches_to_a_request_and_goes_to_review(tmp_path: Path) -> None:
    uri = tmp_path / "store"
    store = open_store(uri)
    frame = pd.DataFrame({"id": ["seed"], "text": ["x"]})
    review_project = labels.create(
        "p", "review", SCHEMA, data=frame, id_column="id", text_column="text", store=store
    )
    entries = [
        RequestEntry(
            model="clf",
            request_id=f"req-{k}",
            time=100.0 + k,
            version="1",
            inputs={"text": f"film {k}"},
            outputs={"label": "pos"},
        )
        for k in range(3)
    ]
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=entries))
    store.close()
    given = assay.feedback(
        "p", "correction", "neg", request_id="req-2", label_project="review", uri=uri
    )
    assay.feedback("p", "rating", 5, request_id="req-0", model="clf", uri=uri)
    store = open_store(uri)
    assert store.labels.feedback(request_id="req-2")[0].id == given.id
    source = store.labels.items(review_project.id)[-1].data["source"]
    assert source == {"request_id": "req-2", "model": "clf"}
    joined = labels.predictions_with_feedback("clf", store=store)
    store.close()
    assert joined["request_id"].tolist() == ["req-0", "req-1", "req-2"]
    assert joined["feedback_kind"].tolist()[0::2] == ["rating", "correction"]
    assert pd.isna(joined["feedback_kind"][1])  # nobody said anything about req-1
    assert joined["label"].tolist()[2] == "neg"  # the correction is the request's label
    assert joined["outputs"][0] == {"label": "pos"}


def test_the_cli_creates_shows_imports_and_exports(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    table = _table(tmp_path, 4)
    run = CliRunner().invoke
    made = run(
        cli,
        [
            "labels",
            "create",
            "p",
            "s",
            "--data",
            str(table),
            "--choices",
            "pos,neg",
            "--id-column",
            "id",
            "--text-column",
            "text",
            "--uri",
            uri,
        ],
    )
    assert made.exit_code == 0, made.output
    assert "4 items, 0 gold" in made.output
    listed = run(cli, ["labels", "ls", "--uri", uri])
    assert "p" in listed.output and "single" in listed.output
    pd.DataFrame(
        {
            "item": ["r0", "r0", "r1", "r1", "r2"],
            "worker": ["a", "b", "a", "b", "a"],
            "label": ["pos", "neg", "pos", "pos", "neg"],
        }
    ).to_csv(tmp_path / "l.csv", index=False)
    imported = run(cli, ["labels", "import", "p/s", str(tmp_path / "l.csv"), "--uri", uri])
    assert imported.exit_code == 0 and "5 labels imported" in imported.output
    shown = run(cli, ["labels", "show", "p/s", "--uri", uri])
    assert shown.exit_code == 0, shown.output
    assert "1 of 4 items complete" not in shown.output and "disagreements to review" in shown.output
    assert "r0" in shown.output
    exported = run(cli, ["labels", "export", "p/s", "--name", "done", "--uri", uri])
    assert exported.exit_code == 0, exported.output
    assert "exported" in exported.output and "3 items" in exported.output
    bad = run(cli, ["labels", "import", "p/s", str(tmp_path / "l.csv"), "--uri", uri])
    assert bad.exit_code != 0 and "already has a turn" in bad.output


def test_show_lists_annotator_quality_per_kind_of_item(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    frame = pd.DataFrame(
        {
            "id": [f"r{k}" for k in range(8)],
            "text": [f"t{k}" for k in range(8)],
            "topic": ["law" if k < 4 else "sport" for k in range(8)],
        }
    )
    frame.to_csv(tmp_path / "items.csv", index=False)
    run = CliRunner().invoke
    made = run(
        cli,
        [
            *("labels", "create", "p", "s", "--data", str(tmp_path / "items.csv")),
            *("--choices", "pos,neg", "--id-column", "id", "--text-column", "text"),
            *("--group-column", "topic", "--routing", "adaptive", "--budget", "0.5"),
            *("--uri", uri),
        ],
    )
    assert made.exit_code == 0, made.output
    rows = []
    for k in range(8):
        right = "pos" if k % 2 else "neg"
        wrong = "neg" if k % 2 else "pos"
        rows += [(f"r{k}", "a", right), (f"r{k}", "b", right)]
        rows.append((f"r{k}", "c", right if k < 4 else wrong))  # c knows law, not sport
    pd.DataFrame(rows, columns=["item", "worker", "label"]).to_csv(tmp_path / "l.csv", index=False)
    assert (
        run(cli, ["labels", "import", "p/s", str(tmp_path / "l.csv"), "--uri", uri]).exit_code == 0
    )
    store = open_store(uri)
    project = store.labels.find("p", "s")
    assert project.budget == 0.5
    assert {i.data["group"] for i in store.labels.items(project.id)} == {"law", "sport"}
    shown = labels.report(project.id, store=store)
    store.close()
    by_kind = {r["worker"]: r["by_kind"] for r in shown.annotators}
    # 8 labels are few: c's overall quality is shrunk towards the crowd's, and so is sport's
    assert by_kind["c"]["law"] > 0.65 and by_kind["c"]["sport"] < 0.4
    assert by_kind["a"]["sport"] > by_kind["c"]["sport"] + 0.5
    printed = run(cli, ["labels", "show", "p/s", "--uri", uri])
    assert printed.exit_code == 0, printed.output
    line = next(x for x in printed.output.splitlines() if x.strip().startswith("c:"))
    assert "law 0." in line and "sport 0." in line


def test_the_demo_project_shows_the_consensus_beating_majority_vote(tmp_path: Path) -> None:
    from assay.demo.labels import CROWD, run_project

    rng = random.Random(0)
    truth = {i: rng.randrange(10) for i in range(80)}
    result = run_project(truth, str(tmp_path / "store"), seed=0)
    assert result.labels == 3 * 80
    assert result.majority_accuracy < result.consensus_accuracy
    store = open_store(tmp_path / "store")
    version = store.artifacts.version("digits", result.name, "latest")
    assert set(version.metadata["annotators"]) == {a.name for a in CROWD}
    assert version.metadata["label_project"]["name"] == result.name
    store.close()


def test_a_large_project_is_sent_in_batches_and_checked_whole_first(
    local: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labels, "BATCH", 3)
    frame = pd.DataFrame({"id": [f"x{k}" for k in range(8)], "t": list("abcdefgh")})
    made = labels.create("p", "n", SCHEMA, data=frame, id_column="id", text_column="t", store=local)
    assert made.n_items == 8
    assert [i.position for i in local.labels.items(made.id)] == list(range(8))
    twice = pd.DataFrame({"id": ["a", "b", "c", "d", "a"], "t": list("abcde")})
    with pytest.raises(InvalidInput, match="appears twice"):
        labels.create("p", "m", SCHEMA, data=twice, id_column="id", text_column="t", store=local)
    assert [p.name for p in local.labels.list("p")] == ["n"]
