from __future__ import annotations

from click.testing import CliRunner

import assay
from assay.cli.main import cli
from assay.demo.digits import grid, run_demo


def test_demo_trains_and_logs_real_runs(store_uri: str) -> None:
    result = run_demo(
        store_uri, configs=grid((0.01,), (1e-4, 1e-2)), epochs=4, system_metrics_interval=0.05
    )
    assert len(result.run_ids) == 2 and result.best_run_id in result.run_ids
    api = assay.Api(store_uri)
    for run in api.runs("digits", filter="job_type == 'train'"):
        assert run.status == "finished"
        assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= set(run.metrics)
        assert run.metrics["val/acc"].count == 4
        assert run.summary["best_val_acc"] >= 0.85  # a real classifier learns digits
        assert any(k.startswith("system/") for k in run.metrics)
        kinds = {k.key: k.kind for k in run.media_keys()}
        assert kinds == {
            "weights": "histogram",
            "val/samples": "image",
            "val/predictions": "table",
            "val/digits": "video",
            "val/report": "html",
        }
        ((_, video),) = run.media("val/digits")
        assert video.format == "gif" and video.data.startswith(b"GIF89a")
        ((_, report),) = run.media("val/report")
        assert "macro avg" in report.html and "precision" in report.html
        ((_, table),) = run.media("val/predictions")
        frame = table.to_pandas()
        assert len(frame) == 16 and frame["digit"][0].to_numpy().shape == (8, 8)
        assert (frame["predicted"] == frame["label"]).mean() >= 0.6
    best = api.runs("digits", order_by=["-summary.best_val_acc"], limit=1)[0]
    assert best.id == result.best_run_id
    # the dataset, one model per run, the best one registered and @production
    assert result.dataset == "digits/digits-split:v0"
    production = assay.models.get("models:/digits-classifier@production", uri=store_uri)
    assert production.artifact.run_id == result.best_run_id
    (move,) = assay.models.history("digits-classifier", uri=store_uri)
    assert move.reason is not None and move.reason.startswith("first production model")
    assert (result.verdict, result.promoted, result.baseline_version) == ("pass", True, None)
    assert move.evidence == f"eval:{result.evaluation_id}"
    evaluation = api.store.evaluations.get(result.evaluation_id)
    assert evaluation.dataset == "digits/digits-split:v0/test.csv"
    assert evaluation.dataset_version_id == api.artifact("digits/digits-split:v0").id
    assert evaluation.model_version_id == production.artifact.id
    assert evaluation.n_items == 360 and evaluation.n_errors == 0
    # sliced by how much ink a digit has (terciles of the training images), not by its label:
    # within a slice every class occurs, so macro-F1 there means what it means overall
    sliced = {(m["metric"], m["slice"]): m for m in evaluation.report["metrics"]}
    assert {s for _, s in sliced} == {None, "ink=light", "ink=medium", "ink=heavy"}
    assert sum(sliced[("accuracy", f"ink={k}")]["n"] for k in ("light", "medium", "heavy")) == 360
    for ink in ("light", "medium", "heavy"):
        accuracy, f1 = sliced[("accuracy", f"ink={ink}")], sliced[("f1", f"ink={ink}")]
        assert 60 <= accuracy["n"] <= 180 and accuracy["value"] > 0.8
        assert abs(f1["value"] - accuracy["value"]) < 0.1, (f1, accuracy)
    assert evaluation.run_id is not None
    assert api.run(evaluation.run_id).job_type == "evaluate"
    graph = api.lineage("models:/digits-classifier@production", direction="up")
    assert {n.label for n in graph.nodes.values()} >= {
        "digits-split:v0",
        "digits-model:v" + str(production.artifact.version),
    }
    clf = assay.models.load("models:/digits-classifier@production", uri=store_uri)
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    assert (clf.predict(x) == y).mean() > 0.85


def test_demo_moves_production_only_when_the_new_model_passes(store_uri: str) -> None:
    first = run_demo(store_uri, configs=grid((0.01,), (1e-4,)), epochs=4, system_metrics_interval=0)
    worse = run_demo(store_uri, configs=grid((10.0,), (1.0,)), epochs=1, system_metrics_interval=0)
    assert worse.baseline_version == first.model_version
    assert worse.verdict == "fail" and not worse.promoted, worse.reason
    production = assay.models.get("models:/digits-classifier@production", uri=store_uri)
    assert production.version == first.model_version
    evaluation = assay.Api(store_uri).store.evaluations.get(worse.evaluation_id)
    assert evaluation.baseline_id is not None and evaluation.verdict == "fail"
    same = run_demo(store_uri, configs=grid((0.01,), (1e-4,)), epochs=4, system_metrics_interval=0)
    assert same.verdict == "pass" and same.promoted  # the same predictions: within tolerance


def test_demo_command_quick(store_uri: str) -> None:
    """The quick demo trains, evaluates and promotes, then labels, monitors and serves:
    each later step leaves a run (and artifacts) whose figures are checked here."""
    import pandas as pd

    from assay.monitoring import Profile

    result = CliRunner().invoke(cli, ["demo", "--quick", "--no-ui", "--uri", store_uri])
    assert result.exit_code == 0, result.output
    assert "runs ls --project digits" in result.output
    api = assay.Api(store_uri)
    assert api.count_runs("digits", "job_type == 'train'") == 2
    assert "digits-classifier version" in result.output
    text = " ".join(result.output.split())
    assert "Evaluated on the held-out test split against no earlier production model: pass" in text
    for heading in ("Labels:", "Drift:", "Monitoring:", "Serving:"):
        assert heading in result.output
    test = pd.read_csv(api.artifact("digits/digits-split:v0").file("test.csv"))
    truth = dict(zip(test["id"], test["label"], strict=True))

    # labels: both accuracies against the true labels, the default above majority vote
    (labels,) = api.runs("digits", filter="job_type == 'labels'")
    summary = labels.summary
    assert summary["items"] == 80 and 240 <= summary["votes"] <= 400
    assert summary["method"] == "one-coin"
    assert 0.5 < summary["majority_vote_accuracy"] < summary["consensus_accuracy"] <= 1.0
    annotators = summary["workers"]
    assert len(annotators) == 6
    assert sum(a["labels"] for a in annotators.values()) == summary["votes"]
    for name, a in annotators.items():  # estimated without the true labels, yet close
        assert abs(a["estimated_accuracy"] - a["true_accuracy"]) < 0.1, (name, a)
    assert annotators["ana"]["true_accuracy"] > 0.85 > annotators["fay"]["true_accuracy"]
    crowd = api.artifact("digits/digits-crowd-labels:v0")
    assert crowd.type == "dataset" and crowd.run_id == labels.id
    consensus = pd.read_csv(crowd.file("consensus.csv"))
    assert list(consensus.columns) == ["item", "label", "confidence"] and len(consensus) == 80
    assert consensus["confidence"].between(0, 1).all()
    right = (consensus["label"] == consensus["item"].map(truth)).mean()
    assert right == summary["consensus_accuracy"]
    assert f"default (one-coin) {summary['consensus_accuracy']:.3f}" in text

    # drift: the unchanged window is not drifted, the heavier ink is
    (monitor,) = api.runs("digits", filter="job_type == 'monitor' and 'demo' in tags")
    unchanged = monitor.summary["window_unchanged"]
    heavier = monitor.summary["window_heavier_ink"]
    assert unchanged["drifted"] is False and unchanged["features_drifted"] == 0
    assert heavier["drifted"] is True and heavier["features_drifted"] >= 5
    assert unchanged["tested"] == heavier["tested"] >= 50
    for name, p in heavier["top"].items():
        assert name.startswith("pixel") and p["p_holm"] <= 0.01
    profile = api.artifact("digits/digits-train-profile:v0")
    assert profile.type == "profile" and profile.run_id == monitor.id
    reference = Profile.from_bytes(profile.file("train.profile").read_bytes())
    assert len(reference.columns) == 64
    assert "DRIFT" in text and "no drift" in text

    # monitoring: the served model's request log, a window as it is, one drifted, an alert
    (watch,) = api.runs(
        "digits", filter="job_type == 'monitor' and 'model:digits-classifier' in tags"
    )
    drift = api.run(watch.id).history(["drift", "traffic"])
    busy = drift[drift["traffic"] > 0]
    assert busy["drift"].tolist() == [0.0, 1.0]
    (fired,) = api.store.alerts.list(monitor_id=watch.id)
    assert fired.rule == "drift" and fired.opened_step == busy.index[1]
    assert "alert fired: drift" in text

    # serving: a real server answered with the version @production
    (served,) = api.runs("digits", filter="job_type == 'serve'")
    production = assay.models.get("models:/digits-classifier@production", uri=store_uri)
    assert served.summary["model_version"] == production.version
    assert served.summary["production_version"] == production.version
    assert served.summary["rows"] == 8 and served.summary["rows_correct"] >= 6
    assert f"answered by model_version {production.version}" in text
    assert "server stopped" in text
    lineage = api.lineage("models:/digits-classifier@production", direction="down")
    assert f"run:{served.id}" in lineage.nodes  # the serve run used the production model


def test_a_step_that_cannot_run_names_its_extra() -> None:
    from assay.demo.common import missing_extra

    assert missing_extra("serving", "json") is None
    line = missing_extra("serving", "json", "assay_no_such_module")
    assert line is not None
    assert "pip install 'assay[serving]'" in line and "assay_no_such_module" in line


def test_demo_llm_step_traces_an_assistant_and_moves_the_prompt_on_a_pass(
    store_uri: str,
) -> None:
    from assay.demo.llm import PROJECT, PROMPT, run_llm

    result = run_llm(store_uri, users=50)
    assert result.traces == 300 and sum(result.per_version.values()) == 300
    assert set(result.per_version) == {0, 1}
    assert result.verdict == "pass" and result.moved
    production = {x.label: x for x in assay.prompts.labels(PROMPT, project=PROJECT, uri=store_uri)}
    assert production["production"].version == 1
    traces = assay.Api(uri=store_uri).traces(PROJECT, limit=1000)
    assert len(traces) == 300
    feedback = assay.Api(uri=store_uri).trace(result.feedback_on).feedback
    assert [f.thumbs for f in feedback] == [False]
