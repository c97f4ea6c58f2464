"""One benchmark case per process, so frameworks never share state or threads.

    python bench/cases.py CASE FRAMEWORK [--keys N] [--steps N] [--repeats N]

Prints one JSON object. Cases: ``log`` (per-step cost of the logging call in the training
process), ``ingest`` (points/s from the first log call until the data is durable),
``read`` (time to read back one 20k-point series).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

warnings.filterwarnings("ignore")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


def rows(keys: int, steps: int) -> list[dict[str, float]]:
    names = [f"metric_{k}" for k in range(keys)]
    return [{n: 1.0 / (s + k + 1) for k, n in enumerate(names)} for s in range(steps)]


# ---- frameworks: start(tmp) -> (log(row, step), finish()) --------------------------------


def start_assay(tmp: str) -> tuple[Callable[[dict[str, float], int], None], Callable[[], None]]:
    import assay

    settings = assay.Settings(
        capture_git=False,
        capture_packages=False,
        capture_console=False,
        capture_code=False,  # the peers save no code by default either
        system_metrics_interval=0,
        handle_signals=False,
    )
    run = assay.init(project="bench", uri=os.path.join(tmp, "assay"), settings=settings)
    return (lambda row, step: run.log(row, step=step)), run.finish


def start_mlflow(tmp: str, synchronous: bool) -> tuple[Callable[..., None], Callable[[], None]]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.start_run()

    def log(row: dict[str, float], step: int) -> None:
        mlflow.log_metrics(row, step=step, synchronous=synchronous)

    def finish() -> None:
        if not synchronous:
            mlflow.flush_async_logging()
        mlflow.end_run()

    return log, finish


def start_wandb(tmp: str) -> tuple[Callable[..., None], Callable[[], None]]:
    import wandb

    run = wandb.init(
        project="bench",
        mode="offline",
        dir=tmp,
        settings=wandb.Settings(x_disable_stats=True, console="off"),
    )
    return (lambda row, step: run.log(row, step=step)), run.finish


def start(framework: str, tmp: str) -> tuple[Callable[..., None], Callable[[], None]]:
    if framework == "assay":
        return start_assay(tmp)
    if framework == "mlflow-sync":
        return start_mlflow(tmp, synchronous=True)
    if framework == "mlflow-async":
        return start_mlflow(tmp, synchronous=False)
    if framework == "wandb-offline":
        return start_wandb(tmp)
    raise SystemExit(f"unknown framework {framework}")


# ---- cases ---------------------------------------------------------------------------------


def case_log(framework: str, keys: int, steps: int) -> dict[str, Any]:
    """Median over rounds of the per-step cost of the log call alone."""
    data = rows(keys, steps)
    with tempfile.TemporaryDirectory() as tmp:
        log, finish = start(framework, tmp)
        per_round = max(1, steps // 10)
        costs = []
        for r in range(10):
            chunk = data[r * per_round : (r + 1) * per_round]
            t0 = time.perf_counter()
            for i, row in enumerate(chunk):
                log(row, r * per_round + i)
            costs.append((time.perf_counter() - t0) / len(chunk) * 1e6)
        finish()
    return {"us_per_step": statistics.median(costs), "rounds_us": costs}


def case_ingest(framework: str, keys: int, steps: int) -> dict[str, Any]:
    """Points per second from the first log call until finish() returns (data durable)."""
    data = rows(keys, steps)
    with tempfile.TemporaryDirectory() as tmp:
        if framework == "mlflow-batch":
            return _mlflow_batch_ingest(tmp, data)
        log, finish = start(framework, tmp)
        t0 = time.perf_counter()
        for step, row in enumerate(data):
            log(row, step)
        finish()
        elapsed = time.perf_counter() - t0
    return {"points_per_s": keys * steps / elapsed, "seconds": elapsed, "points": keys * steps}


def _mlflow_batch_ingest(tmp: str, data: list[dict[str, float]]) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("bench")).info.run_id
    t0 = time.perf_counter()
    batch: list[Metric] = []
    now = int(time.time() * 1000)
    for step, row in enumerate(data):
        batch.extend(Metric(k, v, now, step) for k, v in row.items())
        if len(batch) >= 1000:  # MLflow's per-request limit
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    elapsed = time.perf_counter() - t0
    points = sum(len(r) for r in data)
    return {"points_per_s": points / elapsed, "seconds": elapsed, "points": points}


def case_read(framework: str, keys: int, steps: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if framework == "assay":
            return _assay_read(tmp, steps, repeats)
        return _mlflow_read(tmp, steps, repeats)


def _assay_read(tmp: str, steps: int, repeats: int) -> dict[str, Any]:
    import assay

    log, finish = start_assay(tmp)
    for step in range(steps):
        log({"loss": 1.0 / (step + 1)}, step)
    finish()
    api = assay.Api(os.path.join(tmp, "assay"))
    run_id = api.runs("bench")[0].id
    full = _timed(lambda: api.run(run_id).history(["loss"], format="numpy"), repeats)
    down = _timed(lambda: api.series([run_id], ["loss"], points=1500), repeats)
    frame = _timed(lambda: api.run(run_id).history(["loss"]), repeats)
    return {"full_ms": full, "downsampled_ms": down, "pandas_ms": frame}


def _mlflow_read(tmp: str, steps: int, repeats: int) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    client = MlflowClient()
    run_id = client.create_run(client.create_experiment("bench")).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (s + 1), now, s) for s in range(steps)]
    for i in range(0, steps, 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    full = _timed(lambda: client.get_metric_history(run_id, "loss"), repeats)
    return {"full_ms": full}


def _timed(func: Callable[[], Any], repeats: int) -> float:
    func()  # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["log", "ingest", "read"])
    parser.add_argument("framework")
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.case == "log":
        result = case_log(args.framework, args.keys, args.steps)
    elif args.case == "ingest":
        result = case_ingest(args.framework, args.keys, args.steps)
    else:
        result = case_read(args.framework, args.keys, args.steps, args.repeats)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
