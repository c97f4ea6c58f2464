"""One writer process for the server load benchmark; prints its batch latencies as JSON.

python bench/load_client.py assay|mlflow URL BATCHES START_AT
"""

from __future__ import annotations

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
KEYS = 10
STEPS = 100  # per batch: 10 keys x 100 steps = 1,000 points


def assay_writer(url: str, batches: int, start_at: float) -> list[float]:
    import numpy as np

    from assay.ids import new_run_id, new_writer_id
    from assay.records import Batch, CreateRun, Points
    from assay.store.http.store import RemoteStore

    store = RemoteStore(url)
    run_id, writer = new_run_id(), new_writer_id()
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer=writer,
            seq=0,
            ops=[
                CreateRun(
                    project="load",
                    name="w",
                    created_at=time.time(),
                    config={},
                    tags=[],
                    notes=None,
                    group=None,
                    job_type=None,
                    host={},
                )
            ],
        )
    )
    _wait(start_at)
    latencies = []
    for seq in range(1, batches + 1):
        steps = np.arange((seq - 1) * STEPS, seq * STEPS, dtype="<i8")
        times = np.full(STEPS, time.time(), dtype="<f8")
        ops = [
            Points(
                key=f"m{k}",
                steps=steps.tobytes(),
                times=times.tobytes(),
                values=np.random.rand(STEPS).tobytes(),
            )
            for k in range(KEYS)
        ]
        t0 = time.perf_counter()
        store.runs.write_batch(Batch(run_id=run_id, writer=writer, seq=seq, ops=ops))
        latencies.append(time.perf_counter() - t0)
    store.close()
    return latencies


def mlflow_writer(url: str, batches: int, start_at: float) -> list[float]:
    import random

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("load")
    experiment_id = experiment.experiment_id if experiment else _create(client)
    run_id = client.create_run(experiment_id).info.run_id
    _wait(start_at)
    latencies = []
    for seq in range(batches):
        now = int(time.time() * 1000)
        metrics = [
            Metric(f"m{k}", random.random(), now, seq * STEPS + s)
            for s in range(STEPS)
            for k in range(KEYS)
        ]
        t0 = time.perf_counter()
        client.log_batch(run_id, metrics=metrics)
        latencies.append(time.perf_counter() - t0)
    return latencies


def _create(client: object) -> str:
    try:
        return client.create_experiment("load")  # type: ignore[attr-defined,no-any-return]
    except Exception:  # another writer created it first
        return client.get_experiment_by_name("load").experiment_id  # type: ignore[attr-defined,no-any-return]


def _wait(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def main() -> None:
    kind, url, batches, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    writer = assay_writer if kind == "assay" else mlflow_writer
    latencies = writer(url, batches, start_at)
    print(
        json.dumps({"latencies": latencies, "points": batches * KEYS * STEPS, "end": time.time()})
    )


if __name__ == "__main__":
    main()
