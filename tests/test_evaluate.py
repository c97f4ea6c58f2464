"""``assay.evaluate`` end to end: data sources, scorers, execution, errors, storage, baselines."""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

import assay
from assay.errors import EvaluationFailed, InvalidInput
from assay.evaluation.evaluator import Options
from assay.evaluation.evaluator import evaluate as run_evaluation
from assay.records import EvaluationDraft
from assay.store import open_store
from tests.conftest import StoreFactory, create_run, evaluation_draft, remote_store


def _items(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": f"q{i}",
            "x": int(rng.integers(0, 10)),
            "label": int(rng.integers(0, 2)),
            "topic": i % 4,
        }
        for i in range(n)
    ]


def _evaluate(model: Any, rows: Any, scorers: Any = ("accuracy",), **options: Any) -> Any:
    """``assay.evaluate`` with these rows' label and id columns, nothing stored."""
    defaults = {"label_column": "label", "id_column": "id", "save": False}
    return assay.evaluate(model, rows, list(scorers), **{**defaults, **options})


def _noisy(rate: float, seed: int) -> Any:
    """A model right on about ``rate`` of items: wrong where a per-item uniform draw (fixed by
    ``seed`` and the id) exceeds ``rate``, so lower rates with one seed nest."""

    def model(item: dict[str, Any]) -> int:
        draw = np.random.default_rng([seed, int(item["id"][1:])]).random()
        return int(item["truth"]) ^ int(draw > rate)

    return model


def _with_truth(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**i, "truth": i["label"]} for i in items]


def test_report_has_metrics_with_intervals_slices_and_stored_items(tmp_path: Path) -> None:
    data = _with_truth(_items(400))
    report = assay.evaluate(
        _noisy(0.8, 1),
        data,
        ["accuracy", assay.scorers.f1(average="macro")],
        label_column="label",
        id_column="id",
        slices=["topic"],
        project="evals",
        uri=tmp_path / "store",
    )
    rows = {(r["metric"], r["slice"]): r for r in report.summary()}
    acc = rows[("accuracy", None)]
    assert 0.72 < acc["value"] < 0.88
    assert acc["low"] < acc["value"] < acc["high"] and acc["se"] > 0 and acc["n"] == 400
    assert rows[("f1", None)]["method"] == "bootstrap"
    assert {s for _, s in rows} == {None, "topic=0", "topic=1", "topic=2", "topic=3"}
    assert report.verdict.status == "pass" and "no baseline" in report.verdict.reason
    with assay.Api(tmp_path / "store") as api:
        stored = api.store.evaluations.get(report.id)
        items = api.store.evaluations.items(report.id)
    assert stored.project == "evals" and stored.n_items == 400 and stored.n_errors == 0
    assert stored.report["metrics"][0]["metric"] == "accuracy"
    assert len(items) == 400 and items[0].item_id == "q0"
    assert "label" not in items[0].inputs and items[0].label == data[0]["label"]
    assert items[0].latency_ms is not None and set(items[0].scores) == {"accuracy"}
    assert items[0].inputs_digest and items[0].slices == {"topic": "0"}


def test_a_real_drop_fails_against_a_baseline_model(tmp_path: Path) -> None:
    data = _with_truth(_items(6000, seed=2))
    baseline = _noisy(0.9, 3)
    worse = _noisy(0.86, 3)  # same draws: wrong wherever the baseline is, and more
    report = assay.evaluate(
        worse,
        data,
        ["accuracy"],
        label_column="label",
        id_column="id",
        baseline=baseline,
        tolerance={"accuracy": 0.01},
        project="evals",
        uri=tmp_path / "s",
    )
    assert report.verdict.status == "fail"
    assert "accuracy dropped by" in report.verdict.reason
    (check,) = [c for c in report.compare if c.slice is None]
    assert check.test == "McNemar exact" and check.p_value < 0.001 and check.high < -0.01
    assert report.baseline is not None and report.baseline_id == report.baseline.id
    with assay.Api(tmp_path / "s") as api:
        assert api.store.evaluations.get(report.id).baseline_id == report.baseline_id


def test_no_change_is_inconclusive_on_few_items_and_passes_on_many(tmp_path: Path) -> None:
    def run(n: int) -> Any:
        data = _with_truth(_items(n, seed=4))
        return _evaluate(
            _noisy(0.9, 5), data, baseline=_noisy(0.9, 6), tolerance={"accuracy": 0.02}
        )

    few = run(40)
    assert few.verdict.status == "inconclusive"
    assert "more items would likely settle it" in few.verdict.reason
    assert run(8000).verdict.status == "pass"


def test_a_baseline_on_different_items_is_compared_on_the_shared_ones(tmp_path: Path) -> None:
    data = _with_truth(_items(300, seed=7))
    uri = tmp_path / "s"
    first = assay.evaluate(
        _noisy(0.8, 8),
        data[:250],
        ["accuracy"],
        label_column="label",
        id_column="id",
        project="evals",
        uri=uri,
    )
    second = assay.evaluate(
        _noisy(0.8, 9),
        data[50:],
        ["accuracy"],
        label_column="label",
        id_column="id",
        baseline=f"eval:{first.id}",
        project="evals",
        uri=uri,
    )
    assert second.shared is not None
    assert (second.shared.items, second.shared.candidate_only, second.shared.baseline_only) == (
        200,
        50,
        50,
    )
    assert second.compare[0].n == 200
    assert second.to_dict()["baseline_id"] == first.id
    disjoint = [{**d, "id": f"q{1000 + i}"} for i, d in enumerate(data)]
    with pytest.raises(InvalidInput, match="shares no item ids"):
        assay.evaluate(
            _noisy(0.8, 9),
            disjoint,
            ["accuracy"],
            label_column="label",
            id_column="id",
            baseline=f"eval:{first.id}",
            project="evals",
            uri=uri,
        )


def test_an_erroring_model_call_is_recorded_counted_and_fails_the_gate(tmp_path: Path) -> None:
    def flaky(item: dict[str, Any]) -> int:
        if item["id"] == "q3":
            raise ValueError("pixel out of range")
        return int(item["x"]) % 2

    report = _evaluate(flaky, _items(50))
    (error,) = report.errors
    assert error.item_id == "q3" and "ValueError: pixel out of range" in (error.error or "")
    assert report.verdict.status == "fail"
    assert (
        "raised on 1 of 50 items (item q3: ValueError: pixel out of range" in report.verdict.reason
    )
    assert report.to_dict()["errors"]["count"] == 1
    lenient = _evaluate(flaky, _items(50), max_errors=0.05)
    assert lenient.verdict.status == "pass"


def test_a_model_that_raises_on_every_item_is_an_evaluation_failure() -> None:
    def broken(item: dict[str, Any]) -> int:
        raise RuntimeError("weights not loaded")

    with pytest.raises(
        EvaluationFailed, match=r"raised on every item \(5 calls\).*q0.*weights not loaded"
    ):
        _evaluate(broken, _items(5))


def test_a_missing_id_column_is_named() -> None:
    rows = _items(5)
    del rows[2]["id"]
    with pytest.raises(InvalidInput, match="id column 'id' is missing from row 2"):
        _evaluate(lambda i: 0, rows)


def test_duplicated_ids_are_named_with_their_rows() -> None:
    rows = _items(6)
    rows[4]["id"] = "q1"
    with pytest.raises(InvalidInput, match=r"duplicated values: 'q1' \(rows 1 and 4\)"):
        _evaluate(lambda i: 0, rows)


def test_the_garbage_collector_is_left_as_it_was_found() -> None:
    """Building records pauses the collector; a failure inside must not leave it off, and a
    caller who turned it off keeps it off."""
    rows = _items(6)
    rows[4]["id"] = "q1"
    collected: list[bool] = []

    def model(item: dict[str, Any]) -> int:
        collected.append(gc.isenabled())  # the model runs with the collector on
        return 0

    with pytest.raises(InvalidInput):  # raised while preparing the data, collector paused
        _evaluate(model, rows)
    assert gc.isenabled()
    _evaluate(model, _items(6))
    assert gc.isenabled() and collected and all(collected)
    gc.disable()
    try:
        _evaluate(model, _items(6))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_bad_options_and_scorers_are_named() -> None:
    rows = _items(5)
    cases = [
        ({"scorers": ["acuracy"]}, "unknown scorer 'acuracy'"),
        ({"scorers": [assay.scorers.accuracy(), "accuracy"]}, "two scorers are named 'accuracy'"),
        ({"scorers": ["accuracy"], "label_column": "gold"}, "label column 'gold' is missing"),
        ({"scorers": ["accuracy"], "label_column": None}, "needs the ground truth"),
        ({"scorers": ["f1"], "label_column": None}, "scorer 'f1' needs the ground truth"),
        (
            {"scorers": [{"f1": {"reference": "gold"}}]},
            "scorer 'f1': the item has no column 'gold'",
        ),
        ({"scorers": ["accuracy"], "label_column": "label", "repeats": 0}, "repeats must be"),
        (
            {"scorers": ["accuracy"], "label_column": "label", "tolerance": {"accuracy": -1}},
            "tolerance",
        ),
        ({"scorers": [{"f1": {"averge": "macro"}}]}, "scorer 'f1'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidInput, match=message):
            assay.evaluate(lambda i: 0, rows, save=False, **kwargs)
    with pytest.raises(InvalidInput, match="not a valid pattern"):
        assay.scorers.regex("(")


# ---- data sources ------------------------------------------------------------------------------


def _write_tables(folder: Path, rows: list[dict[str, Any]]) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = {s: folder / f"items.{s}" for s in ("jsonl", "csv", "parquet", "json")}
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths["json"].write_text(json.dumps(rows))
    header = list(rows[0])
    paths["csv"].write_text(
        ",".join(header) + "\n" + "".join(",".join(str(r[h]) for h in header) + "\n" for r in rows)
    )
    pq.write_table(pa.Table.from_pylist(rows), paths["parquet"])
    return paths


def test_every_data_source_gives_the_same_report(tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow as pa

    rows = _items(60)
    paths = _write_tables(tmp_path / "t", rows)
    sources: list[Any] = [rows, pd.DataFrame(rows), pa.Table.from_pylist(rows), *paths.values()]

    def model(item: dict[str, Any]) -> int:
        return int(item["x"]) % 2

    values = []
    for source in sources:
        report = _evaluate(model, source, cache=False)
        values.append(report.metrics[0].value)
    assert len(set(values)) == 1, values


def test_a_dataset_artifact_is_read_and_linked(store_factory: StoreFactory, tmp_path: Path) -> None:
    store = store_factory()
    rows = _items(40)
    folder = tmp_path / "split"
    _write_tables(folder, rows)
    (folder / "items.json").unlink()
    (folder / "items.parquet").unlink()
    art = assay.Artifact("qa-set", type="dataset")
    art.add_dir(folder)
    from assay.artifacts.artifact import log_artifact

    version = log_artifact(
        store=store, artifact=art, project="evals", run_id=create_run(store=store, project="evals")
    )
    with pytest.raises(InvalidInput, match=r"holds 2 data files \(items.csv, items.jsonl\)"):
        run_evaluation(
            lambda i: 0,
            "qa-set:latest",
            ["accuracy"],
            Options(label_column="label"),
            store=store,
            project="evals",
        )
    report = run_evaluation(
        lambda i: 0,
        "qa-set:latest/items.csv",
        ["accuracy"],
        Options(label_column="label", id_column="id"),
        store=store,
        project="evals",
    )
    stored = store.evaluations.get(report.id or "")
    assert stored.dataset_version_id == version.id
    assert stored.dataset == "evals/qa-set:v0/items.csv"
    assert [e.id for e in store.evaluations.list(dataset_version_id=version.id)] == [report.id]
    assert store.evaluations.list(project="evals")[0].id == report.id


# ---- scorers ---------------------------------------------------------------------------------


def test_text_and_numeric_scorers_score_each_item() -> None:
    rows = [
        {"id": "a", "label": "Paris", "answer": 1.0},
        {"id": "b", "label": "Rome", "answer": 2.0},
    ]
    outputs = {"a": '{"city": "Paris"}', "b": "rome?"}
    schema = {"type": "object", "required": ["city"]}
    report = _evaluate(
        lambda item: outputs[item["id"]],
        rows,
        [
            assay.scorers.exact_match(ignore_case=True),
            assay.scorers.contains(ignore_case=True),
            assay.scorers.regex(r"^\{"),
            "valid_json",
            assay.scorers.json_schema(schema),
            assay.scorers.custom(lambda item, out: len(out), name="length"),
        ],
    )
    scores = {i.item_id: i.scores for i in report.items}
    assert scores["a"] == {
        "exact_match": 0.0,
        "contains": 1.0,
        "regex": 1.0,
        "valid_json": 1.0,
        "json_schema": 1.0,
        "length": 17.0,
    }
    assert scores["b"] == {
        "exact_match": 0.0,
        "contains": 1.0,
        "regex": 0.0,
        "valid_json": 0.0,
        "json_schema": 0.0,
        "length": 5.0,
    }
    answers = {"a": 1.0, "b": 2.0}
    numeric = assay.evaluate(
        lambda item: answers[item["id"]] + 0.05,
        rows,
        [assay.scorers.numeric(abs_tol=0.1), "mae"],
        label_column="answer",
        id_column="id",
        save=False,
    )
    assert [i.scores for i in numeric.items] == [
        {"numeric": 1.0, "mae": pytest.approx(0.05)},
        {"numeric": 1.0, "mae": pytest.approx(0.05)},
    ]


def test_probability_scorers_read_registered_classifier_outputs() -> None:
    from sklearn.metrics import log_loss, roc_auc_score

    rng = np.random.default_rng(3)
    rows = [{"id": str(i), "label": int(rng.integers(0, 2))} for i in range(200)]
    p = {
        r["id"]: float(np.clip(0.3 + 0.4 * r["label"] + rng.normal(0, 0.2), 0.01, 0.99))
        for r in rows
    }

    def model(item: dict[str, Any]) -> dict[str, Any]:
        q = p[item["id"]]
        return {"prediction": int(q > 0.5), "probabilities": [1 - q, q], "classes": [0, 1]}

    report = _evaluate(model, rows, ["accuracy", "roc_auc", "log_loss"])
    values = {m.metric: m for m in report.metrics}
    labels = [r["label"] for r in rows]
    probs = [p[r["id"]] for r in rows]
    assert values["roc_auc"].value == pytest.approx(roc_auc_score(labels, probs))
    assert values["log_loss"].value == pytest.approx(log_loss(labels, probs))
    assert values["roc_auc"].low < values["roc_auc"].value < values["roc_auc"].high


def test_an_llm_judge_records_its_prompt_and_reply() -> None:
    asked: list[str] = []

    def judge(prompt: str) -> str:
        asked.append(prompt)
        return "yes, correct" if "Paris" in prompt else "no"

    rows = [{"id": "a", "question": "capital of France?"}, {"id": "b", "question": "2+2?"}]
    answers = {"a": "Paris", "b": "5"}
    report = assay.evaluate(
        lambda item: answers[item["id"]],
        rows,
        [assay.scorers.llm_judge(judge, "Q: {question}\nA: {output}\nIs the answer right?")],
        id_column="id",
        workers=1,
        save=False,
    )
    by_id = {i.item_id: i for i in report.items}
    assert by_id["a"].scores == {"judge": 1.0} and by_id["b"].scores == {"judge": 0.0}
    assert by_id["a"].details["judge"] == {
        "prompt": "Q: capital of France?\nA: Paris\nIs the answer right?",
        "judgement": "yes, correct",
    }
    assert len(asked) == 2


def test_judges_are_asked_in_parallel() -> None:
    """Each judge call waits for another to be in flight: sequential calls would break the
    barrier and leave the score empty."""
    barrier = threading.Barrier(2, timeout=20)

    def judge(prompt: str) -> str:
        barrier.wait()
        return "yes"

    report = assay.evaluate(
        lambda item: "ok",
        [{"id": str(i)} for i in range(4)],
        [assay.scorers.llm_judge(judge, "{output}?")],
        id_column="id",
        workers=2,
        save=False,
    )
    assert [i.scores["judge"] for i in report.items] == [1.0] * 4


# ---- execution -------------------------------------------------------------------------------


_CALLS: list[str] = []  # outside the model function, so its digest does not change


def _counting(item: dict[str, Any]) -> int:
    _CALLS.append(item["id"])
    return 1


def test_outputs_are_cached_so_a_rerun_recomputes_only_what_changed() -> None:
    _CALLS.clear()
    rows = _items(30)
    first = _evaluate(_counting, rows)
    assert len(_CALLS) == 30 and not any(i.cached for i in first.items)
    rows[7] = {**rows[7], "x": 99}
    again = _evaluate(_counting, rows)
    assert _CALLS[30:] == ["q7"]
    assert sum(i.cached for i in again.items) == 29
    _evaluate(_counting, rows, cache=False)
    assert len(_CALLS) == 61


def test_the_output_cache_keeps_the_most_recently_used_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from assay.evaluation.runner import cache_dir

    older = []
    for age, name in enumerate(["oldest", "older", "old"]):  # other models' outputs, 400 KiB each
        path = cache_dir() / "aa" / f"{name}.msgpack"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 400 * 1024)
        os.utime(path, (1000 + age, 1000 + age))
        older.append(path)
    monkeypatch.setenv("ASSAY_EVAL_CACHE_MB", "1")
    _evaluate(_counting, _items(30))
    assert [p.exists() for p in older] == [False, True, True]  # the oldest went to fit 1 MiB
    (mine,) = set(cache_dir().glob("*/*.msgpack")) - set(older)
    os.utime(mine, (0, 0))
    again = _evaluate(_counting, _items(30))
    assert all(i.cached for i in again.items) and mine.stat().st_mtime > 1000  # marked used
    for bad in ("lots", "inf", "-5"):
        monkeypatch.setenv("ASSAY_EVAL_CACHE_MB", bad)
        with pytest.raises(InvalidInput, match=f"ASSAY_EVAL_CACHE_MB='{bad}' is not a number"):
            _evaluate(_counting, _items(3))


def test_closures_over_different_values_do_not_share_cached_outputs() -> None:
    def scaled(factor: int) -> Any:
        return lambda item: int(item["x"]) * factor

    rows = _items(10)
    one = assay.evaluate(scaled(1), rows, ["accuracy"], label_column="label", save=False)
    two = assay.evaluate(scaled(2), rows, ["accuracy"], label_column="label", save=False)
    assert [i.output for i in two.items] == [2 * i.output for i in one.items]
    assert not any(i.cached for i in two.items)


def test_repeats_sample_each_item_k_times_without_the_cache() -> None:
    rng = np.random.default_rng(0)
    lock = threading.Lock()

    def stochastic(item: dict[str, Any]) -> int:
        with lock:
            return int(rng.random() < 0.5)

    report = _evaluate(stochastic, _items(40), repeats=3)
    assert len(report.items) == 120
    assert sorted({i.repeat for i in report.items}) == [0, 1, 2]
    assert report.metrics[0].n == 40  # one mean score per item
    assert not any(i.cached for i in report.items)


@pytest.mark.parametrize(
    ("workers", "n"),
    [(1, 6), (2, 400)],  # one worker: its thread is replaced; two: results keep flowing
)
def test_a_slow_item_times_out_and_the_rest_finish(workers: int, n: int) -> None:
    release = threading.Event()

    def model(item: dict[str, Any]) -> int:
        if item["id"] == "q1":
            release.wait(30)
        else:
            time.sleep(0.002)
        return 0

    try:
        report = _evaluate(
            model, _items(n), timeout=0.3, workers=workers, max_errors=0.5, cache=False
        )
    finally:
        release.set()
    (error,) = report.errors
    assert error.item_id == "q1" and error.error == "TimeoutError: no output after 0.3 s"
    assert len([i for i in report.items if i.error is None]) == n - 1


def test_a_batched_function_gets_lists_of_items() -> None:
    sizes: list[int] = []

    @assay.batched(size=8)
    def model(items: list[dict[str, Any]]) -> list[int]:
        sizes.append(len(items))
        return [int(i["x"]) % 2 for i in items]

    report = _evaluate(model, _items(20), cache=False, workers=1)
    assert sorted(sizes) == [4, 8, 8] and len(report.items) == 20

    @assay.batched
    def short(items: list[dict[str, Any]]) -> list[int]:
        return [0]

    with pytest.raises(EvaluationFailed, match="got 5 items and returned 1 outputs"):
        _evaluate(short, _items(5), cache=False)


def test_ray_runs_the_calls_as_remote_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a stand-in ``ray`` module (the ray wheel is large): the wiring, not Ray."""
    submitted: list[int] = []
    fake = types.ModuleType("ray")
    state = {"up": False}

    class Remote:
        def __init__(self, fn: Any) -> None:
            self.fn = fn

        def remote(self, *args: Any) -> Any:
            submitted.append(len(args[1]))
            return self.fn(*args)

    fake.is_initialized = lambda: state["up"]  # type: ignore[attr-defined]
    fake.init = lambda **kw: state.update(up=True)  # type: ignore[attr-defined]
    fake.remote = Remote  # type: ignore[attr-defined]
    fake.get = lambda ref, timeout=None: ref  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    report = _evaluate(lambda item: 1, _items(10), ray=True, cache=False)
    assert state["up"] and submitted == [10] and len(report.items) == 10  # one task, 10 calls


def test_ray_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InvalidInput, match=r"pip install 'assay\[ray\]'"):
        assay.evaluate(
            lambda i: 1, _items(3), ["accuracy"], label_column="label", ray=True, save=False
        )


def test_clustered_items_get_clustered_standard_errors() -> None:
    rows = [{"id": str(i), "label": 1, "passage": i // 10} for i in range(300)]
    hard = {p for p in range(30) if p % 3 == 0}
    report = _evaluate(
        lambda item: 0 if item["passage"] in hard else 1, rows, cluster_column="passage"
    )
    naive = _evaluate(lambda item: 0 if item["passage"] in hard else 1, rows)
    assert report.metrics[0].method == "clustered Wilson" and report.metrics[0].clusters == 30
    assert report.metrics[0].se > 2 * naive.metrics[0].se
    assert report.items[0].cluster == "0"


# ---- registered models and runs ----------------------------------------------------------------


def _register(uri: Path, train: list[dict[str, Any]], c: float, version_alias: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([[r["f0"], r["f1"]] for r in train])
    y = np.asarray([r["label"] for r in train])
    with assay.init(project="evals", uri=uri) as run:
        logged = run.log_model(LogisticRegression(C=c).fit(x, y), "clf")
    mv = assay.register_model(logged.ref, "clf", uri=uri)
    assay.models.set_alias("clf", version_alias, mv.version, uri=uri)
    return mv


def test_registered_models_are_evaluated_by_flavour_and_linked(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        {"id": i, "f0": float(a), "f1": float(b), "label": int(a + b > 0)}
        for i, (a, b) in enumerate(rng.normal(size=(600, 2)))
    ]
    uri = tmp_path / "s"
    production = _register(uri, rows[:300], 1.0, "production")
    candidate = _register(uri, rows[:40], 0.001, "candidate")
    with assay.init(project="evals", uri=uri) as run:
        report = assay.evaluate(
            "models:/clf@candidate",
            rows[300:],
            ["accuracy", "roc_auc"],
            label_column="label",
            id_column="id",
            baseline="models:/clf@production",
            tolerance={"accuracy": 0.0},
        )
        run_id = run.id
    assert report.model == f"models:/clf/{candidate.version}"
    assert report.baseline_model == f"models:/clf/{production.version}"
    assert isinstance(report.items[0].output, dict) and "probabilities" in report.items[0].output
    with assay.Api(uri) as api:
        stored = api.store.evaluations.get(report.id or "")
        assert stored.model_version_id == candidate.artifact.id and stored.run_id == run_id
        assert (
            api.store.evaluations.get(report.baseline_id or "").model_version_id
            == production.artifact.id
        )
        assert [
            e.id for e in api.store.evaluations.list(model_version_id=candidate.artifact.id)
        ] == [report.id]
    held_out = tmp_path / "held-out.jsonl"
    held_out.write_text("".join(json.dumps(r) + "\n" for r in rows[300:]))
    with assay.init(project="evals", uri=uri) as run:
        run.log_artifact(held_out, name="held-out")
    outside = assay.evaluate(  # no run, no project: the model's project finds the dataset
        "models:/clf@candidate",
        "held-out:latest",
        ["accuracy"],
        label_column="label",
        id_column="id",
        uri=uri,
    )
    assert outside.project == "evals" and outside.dataset == "evals/held-out:v0/held-out.jsonl"
    assert outside.metrics[0].value == report.metrics[0].value


class Parity:
    """A generic-flavour model: ``predict`` takes the item dicts."""

    def predict(self, items: list[dict[str, Any]]) -> list[int]:
        return [int(item["x"]) % 2 for item in items]

    def save(self, path: Path) -> None:
        path.write_text("{}")

    @classmethod
    def load(cls, path: Path) -> Parity:
        return cls()


def _logged(uri: Path, model: Any, name: str) -> str:
    with assay.init(project="evals", uri=uri) as run:
        logged = run.log_model(model, name)
    return assay.register_model(logged.ref, name, uri=uri).uri


def test_python_and_onnx_models_get_their_flavours_input(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    uri = tmp_path / "s"
    rows = _items(20)
    parity = assay.evaluate(
        _logged(uri, Parity(), "parity"),
        rows,
        ["accuracy"],
        label_column="label",
        id_column="id",
        uri=uri,
    )
    assert [i.output for i in parity.items] == [r["x"] % 2 for r in rows]

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    relu = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    relu.ir_version = 8
    points = [{"id": i, "a": float(i - 3), "b": float(3 - i), "label": 0} for i in range(6)]
    report = assay.evaluate(
        _logged(uri, relu, "relu"),
        points,
        [
            assay.scorers.custom(
                lambda item, out: out == [max(item["a"], 0), max(item["b"], 0)], name="relu"
            )
        ],
        label_column="label",
        id_column="id",
        uri=uri,
    )
    assert report.metrics[0].value == 1.0
    assert report.items[0].output == [0.0, 3.0]


# ---- the store ---------------------------------------------------------------------------------


def test_a_large_evaluation_travels_to_a_server_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.records import EvalItem
    from assay.store.http import evaluations as remote

    monkeypatch.setattr(remote, "PART_BYTES", 4000)  # as if each item were a large LLM exchange
    server = remote_store(tmp_path / "server")
    sent: list[bytes] = []
    put_many = server.blobs.put_many
    monkeypatch.setattr(
        server.blobs, "put_many", lambda datas: sent.extend(datas) or put_many(datas)
    )
    items = [
        EvalItem(item_id=f"q{i}", output="answer " * 20, scores={"ok": i % 2}) for i in range(300)
    ]
    saved = server.evaluations.save(evaluation_draft(items=items))
    assert len(sent) == len(remote.item_parts(items)) > 5
    assert saved.n_items == 300 and server.evaluations.items(saved.id) == items
    again = server.evaluations.save(evaluation_draft(items=items))  # the parts are there already
    assert len(sent) == len(remote.item_parts(items)) and again.id != saved.id


def test_evaluation_parts_naming_missing_or_bad_blobs_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay import wire
    from assay.errors import LimitExceeded
    from assay.records import EvalItem
    from assay.server.api import evaluations as routes
    from assay.store.http.evaluations import item_parts

    server = remote_store(tmp_path / "server")
    empty = evaluation_draft(items=[])

    def send(draft: EvaluationDraft, blobs: list[str]) -> None:
        server.http.send("POST", "/api/v1/evaluations/parts", wire.EvaluationParts(draft, blobs))

    with pytest.raises(InvalidInput, match=f"item blob {'0' * 64} is not stored"):
        send(empty, ["0" * 64])
    junk = server.blobs.put(b"not a list of items")
    with pytest.raises(InvalidInput, match=f"item blob {junk} is not a list of item results"):
        send(empty, [junk])
    good = server.blobs.put(msgspec.msgpack.encode(item_parts([EvalItem(item_id="a")])[0]))
    with pytest.raises(InvalidInput, match="carries its items in item_blobs only"):
        send(evaluation_draft(), [good])
    monkeypatch.setattr(routes, "PARTS_LIMIT", 0)
    with pytest.raises(LimitExceeded, match="item blobs exceed"):
        send(empty, [good])
    assert server.evaluations.list() == []


def test_storing_an_evaluation_is_audited(sql_store_factory: StoreFactory) -> None:
    from assay.store.sql import audit
    from assay.store.sql.store import SqlStore

    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    saved = store.evaluations.save(evaluation_draft())
    (record,) = [r for r in audit.records(store.engine) if r.action == "evaluation.created"]
    assert record.target == f"evaluation:{saved.id}"
    assert audit.verify(store.engine).ok


def test_evaluate_inside_a_run_waits_for_the_run_record(tmp_path: Path) -> None:
    uri = tmp_path / "s"
    with assay.init(project="evals", uri=uri) as run:
        report = assay.evaluate(lambda i: 1, _items(5), ["accuracy"], label_column="label")
        assert report.project == "evals"
    with assay.Api(uri) as api:
        assert api.store.evaluations.get(report.id or "").run_id == run.id


def _separable(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    return [
        {"id": i, "f0": float(a), "f1": float(b), "label": int(a + b > 0), "region": "nesw"[i % 4]}
        for i, (a, b) in enumerate(rng.normal(size=(n, 2)))
    ]


def test_a_model_fitted_on_a_dataframe_gets_its_named_columns_without_warnings(
    tmp_path: Path,
) -> None:
    """scikit-learn warns "X does not have valid feature names" when a model fitted on a
    DataFrame is given an array; warnings are errors here, so each call would fail."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rows = _separable(400)
    frame = pd.DataFrame(rows)
    model = LogisticRegression().fit(frame[["f1", "f0"]], frame["label"])  # not the data's order
    uri = tmp_path / "s"
    report = assay.evaluate(
        _logged(uri, model, "named"),
        rows,
        ["accuracy"],
        label_column="label",
        id_column="id",
        slices=["region"],
        uri=uri,
    )
    assert report.errors == [] and report.metrics[0].value > 0.95


def test_slice_columns_are_features_only_when_the_model_expects_them(tmp_path: Path) -> None:
    """A model fitted on an array knows only how many features it takes: a slice column that
    is not one of them (a text region) is left out; one that is (a flag) stays in."""
    from sklearn.linear_model import LogisticRegression

    rows = _separable(400)
    uri = tmp_path / "s"
    x = np.asarray([[r["f0"], r["f1"]] for r in rows])
    y = np.asarray([r["label"] for r in rows])
    plain = _logged(uri, LogisticRegression().fit(x, y), "plain")
    report = assay.evaluate(
        plain, rows, ["accuracy"], label_column="label", id_column="id", slices=["region"], uri=uri
    )
    assert report.errors == [] and report.metrics[0].value > 0.95
    flagged = [{**r, "flag": int(r["f0"] > 0)} for r in rows]
    x3 = np.asarray([[r["f0"], r["f1"], r["flag"]] for r in flagged])
    with_flag = _logged(uri, LogisticRegression().fit(x3, y), "flagged")
    report = assay.evaluate(
        with_flag,
        [{k: v for k, v in r.items() if k != "region"} for r in flagged],
        ["accuracy"],
        label_column="label",
        id_column="id",
        slices=["flag"],
        uri=uri,
    )
    assert report.errors == [] and {m.slice for m in report.metrics} == {None, "flag=0", "flag=1"}


def test_a_function_on_rows_in_memory_is_stored_in_the_default_project(tmp_path: Path) -> None:
    """No project=, no run, nothing from the store: the report goes where assay.init's runs
    go (it was refused, asking for project=)."""
    rows = [{"id": f"i{n}", "x": n, "label": n % 2} for n in range(20)]
    report = _evaluate(lambda item: item["x"] % 2, rows, save=True, uri=str(tmp_path / "s"))
    assert report.project == "default"
    store = open_store(tmp_path / "s")
    assert [e.id for e in store.evaluations.list("default")] == [report.id]
    store.close()
