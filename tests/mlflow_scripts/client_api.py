"""MlflowClient's lower-level calls against a live Assay server: experiments, the default
experiment, log_batch, tags set and deleted, datasets as inputs, status updates, paged
search. Prints what it read back as JSON for tests/test_mlflow_api.py."""

from __future__ import annotations

import json
import sys
import time

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException


def main() -> None:
    client = MlflowClient()
    experiment_id = client.create_experiment("client api")
    found = client.get_experiment_by_name("client api")
    missing = client.get_experiment_by_name("not yet")  # granted, not created
    listed = [e.name for e in client.search_experiments(filter_string="name LIKE 'client%'")]

    default_run = client.create_run("0", run_name="in-default")
    client.set_terminated(default_run.info.run_id)

    start = int(time.time() * 1000) - 60_000
    ids = []
    for i in range(5):
        run = client.create_run(experiment_id, start_time=start + i, tags={"i": str(i)})
        ids.append(run.info.run_id)
        metrics = [Metric("score", float(i * s), start + s, s) for s in range(3)]
        client.log_batch(
            run.info.run_id,
            metrics=metrics,
            params=[Param("i", str(i))],
            tags=[RunTag("kind", "sweep"), RunTag("mlflow.note.content", f"run {i}")],
        )
    client.set_tag(ids[0], "temp", "x")
    client.delete_tag(ids[0], "temp")
    client.set_terminated(ids[1], status="FAILED", end_time=start + 50_000)
    try:
        client.log_param(ids[0], "i", "changed")
        changed = "allowed"
    except MlflowException as exc:
        changed = exc.error_code

    with mlflow.start_run(run_id=ids[2]):
        frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="toy"), context="training")

    pages, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], order_by=["metrics.score DESC"], max_results=2, page_token=token
        )
        pages.append([r.info.run_id for r in page])
        token = page.token
        if not token:
            break
    failed = client.search_runs([experiment_id], filter_string="attributes.status = 'FAILED'")
    first = client.get_run(ids[0])
    third = client.get_run(ids[2])
    json.dump(
        {
            "experiment_id": experiment_id,
            "found": found.experiment_id,
            "missing": missing is None,
            "listed": listed,
            "default_experiment": default_run.info.experiment_id,
            "default_status": client.get_run(default_run.info.run_id).info.status,
            "ids": ids,
            "pages": pages,
            "failed": [r.info.run_id for r in failed],
            "failed_end": client.get_run(ids[1]).info.end_time,
            "start_times": [client.get_run(i).info.start_time for i in ids],
            "tags": first.data.tags,
            "changed": changed,
            "datasets": [d.dataset.name for d in third.inputs.dataset_inputs],
            "history": [
                [m.step, m.value, m.timestamp] for m in client.get_metric_history(ids[4], "score")
            ],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
