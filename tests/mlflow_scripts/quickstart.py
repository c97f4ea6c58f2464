"""An MLflow quickstart, unmodified but for the tracking URI (taken from the environment):
run by tests/test_mlflow_api.py against a live Assay server. It prints what the MLflow
client reads back, as JSON, for the test to compare with what Assay holds."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression


def main() -> None:
    experiment = mlflow.set_experiment("quickstart demo")
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"optimizer": "adam", "layers": 3})
        for step in range(50):
            mlflow.log_metric(
                "loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step
            )
        mlflow.log_metrics({"acc": 0.91, "f1": 0.88}, step=49)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "owner": ""})
        folder = Path(tempfile.mkdtemp())
        (folder / "notes.txt").write_text("hello from mlflow\n")
        mlflow.log_artifact(str(folder / "notes.txt"))
        mlflow.log_artifact(str(folder / "notes.txt"), artifact_path="docs")
        mlflow.log_dict({"classes": ["cat", "dog"]}, "meta/classes.json")
        features = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
        model = LogisticRegression().fit(features, [0, 1, 0, 1])
        info = mlflow.sklearn.log_model(model, name="model")
    with mlflow.start_run(run_name="second") as second:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("acc", 0.75)
        mlflow.set_tag("team", "nlp")

    client = MlflowClient()
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "quickstart-clf")
    client.set_registered_model_alias("quickstart-clf", "champion", version.version)
    by_alias = client.get_model_version_by_alias("quickstart-clf", "champion")
    loaded = mlflow.sklearn.load_model("models:/quickstart-clf@champion")

    got = client.get_run(run.info.run_id)
    history = client.get_metric_history(run.info.run_id, "loss")
    ids = experiment.experiment_id
    best = mlflow.search_runs([ids], order_by=["metrics.acc DESC"], output_format="list")
    vision = client.search_runs([ids], filter_string="tags.team = 'vision' and params.lr = '0.01'")
    named = client.search_runs([ids], filter_string="attributes.run_name LIKE '%cond%'")
    good = client.search_runs(
        [ids], filter_string="metrics.acc > 0.8 and attributes.status = 'FINISHED'"
    )
    artifacts = sorted(f.path for f in client.list_artifacts(run.info.run_id))
    docs = sorted(f.path for f in client.list_artifacts(run.info.run_id, "docs"))
    text = Path(client.download_artifacts(run.info.run_id, "docs/notes.txt")).read_text()
    json.dump(
        {
            "experiment_id": ids,
            "experiment_name": client.get_experiment(ids).name,
            "run_id": run.info.run_id,
            "second_id": second.info.run_id,
            "status": got.info.status,
            "run_name": got.info.run_name,
            "start_time": got.info.start_time,
            "end_time": got.info.end_time,
            "params": got.data.params,
            "metrics": got.data.metrics,
            "tags": {k: v for k, v in got.data.tags.items()},
            "history": [[m.step, m.value, m.timestamp] for m in history],
            "best_order": [r.info.run_id for r in best],
            "vision": [r.info.run_id for r in vision],
            "named": [r.info.run_id for r in named],
            "good": [r.info.run_id for r in good],
            "artifacts": artifacts,
            "docs": docs,
            "text": text,
            "model_uri": info.model_uri,
            "version": version.version,
            "alias_version": by_alias.version,
            "prediction": loaded.predict(features).tolist(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
