"""UI server times on a large store, against MLflow's endpoints on the same data.

10,000 runs (20 config keys, 10 metrics each) and 100 runs x 20,000 steps of one metric.
Assay: the runs table page, a sorted and filtered page, the chart data of 100 series, and
the time until a chart is drawn in headless chromium. MLflow: its server's runs search
(the same page size, filter and order) and metric history for the same 100 series.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from server_load import serve  # noqa: E402

RUNS, CONFIG_KEYS, METRICS = 10_000, 20, 10
LONG_RUNS, LONG_STEPS = 100, 20_000
REPEATS = 7


def config_of(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    return {f"k{j}": rng.random() for j in range(CONFIG_KEYS)}


def seed_assay(root: Path) -> list[str]:
    from assay.ids import new_run_id
    from assay.records import Batch, CreateRun, Points
    from assay.store.sql.store import SqlStore

    store = SqlStore.embedded(root)
    now = time.time()
    one = np.zeros(1, dtype="<i8").tobytes()
    stamp = np.full(1, now, dtype="<f8").tobytes()
    for i in range(RUNS):
        ops: list[Any] = [
            CreateRun(
                project="big",
                name=f"run-{i}",
                created_at=now + i,
                config=config_of(i),
                tags=[],
                notes=None,
                group=None,
                job_type=None,
                host={},
            )
        ]
        rng = random.Random(-i)
        ops += [
            Points(key=f"m{j}", steps=one, times=stamp, values=np.array([rng.random()]).tobytes())
            for j in range(METRICS)
        ]
        store.runs.write_batch(Batch(run_id=new_run_id(), writer="w", seq=0, ops=ops))
    long_ids = []
    steps = np.arange(LONG_STEPS, dtype="<i8")
    for i in range(LONG_RUNS):
        run_id = new_run_id()
        values = np.cumsum(np.random.default_rng(i).normal(size=LONG_STEPS))
        times = now + steps.astype("<f8")
        store.runs.write_batch(
            Batch(
                run_id=run_id,
                writer="w",
                seq=0,
                ops=[
                    CreateRun(
                        project="long",
                        name=f"long-{i}",
                        created_at=now,
                        config={},
                        tags=[],
                        notes=None,
                        group=None,
                        job_type=None,
                        host={},
                    ),
                    Points(
                        key="loss",
                        steps=steps.tobytes(),
                        times=times.tobytes(),
                        values=values.tobytes(),
                    ),
                ],
            )
        )
        long_ids.append(run_id)
    store.close()
    return long_ids


def seed_mlflow(uri: str) -> tuple[str, list[str]]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    big = client.create_experiment("big")
    now = int(time.time() * 1000)
    for i in range(RUNS):
        run_id = client.create_run(big).info.run_id
        rng = random.Random(-i)
        client.log_batch(
            run_id,
            params=[Param(k, str(v)) for k, v in config_of(i).items()],
            metrics=[Metric(f"m{j}", rng.random(), now, 0) for j in range(METRICS)],
        )
    long = client.create_experiment("long")
    ids = []
    for i in range(LONG_RUNS):
        run_id = client.create_run(long).info.run_id
        values = np.cumsum(np.random.default_rng(i).normal(size=LONG_STEPS))
        for start in range(0, LONG_STEPS, 1000):
            client.log_batch(
                run_id,
                metrics=[
                    Metric("loss", float(values[s]), now + s, s) for s in range(start, start + 1000)
                ],
            )
        ids.append(run_id)
    return big, ids


def timed(fn: Any) -> float:
    fn()
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def measure_assay(url: str, long_ids: list[str]) -> dict[str, float]:
    with httpx.Client(base_url=url, timeout=120) as http:

        def get(path: str, **params: Any) -> None:
            http.get(path, params=params).raise_for_status()

        return {
            "runs page": timed(lambda: get("/projects/big")),
            "sorted + filtered page": timed(
                lambda: get(
                    "/ui/projects/big/table",
                    filter="summary.m3 > 0.5 and summary.m2 < 0.5",
                    sort="-summary.m1",
                )
            ),
            "chart data, 100 series": timed(
                lambda: get("/ui/api/series", runs=",".join(long_ids), keys="loss", points=1500)
            ),
            "drawn chart in chromium": drawn_chart_ms(url, long_ids[:20]),
        }


def drawn_chart_ms(url: str, ids: list[str]) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        samples = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            page.goto(f"{url}/projects/long?sel={','.join(ids)}")
            page.wait_for_selector("#charts .chart[data-key='loss'] canvas")
            samples.append((time.perf_counter() - t0) * 1000)
        browser.close()
    return statistics.median(samples)


def measure_mlflow(url: str, experiment: str, long_ids: list[str]) -> dict[str, float]:
    with httpx.Client(base_url=url, timeout=300) as http:

        def search(**body: Any) -> None:
            http.post(
                "/api/2.0/mlflow/runs/search",
                json={"experiment_ids": [experiment], "max_results": 50, **body},
            ).raise_for_status()

        def histories() -> None:
            for run_id in long_ids:
                http.get(
                    "/api/2.0/mlflow/metrics/get-history",
                    params={"run_id": run_id, "metric_key": "loss"},
                ).raise_for_status()

        return {
            "runs page": timed(lambda: search(order_by=["attributes.start_time DESC"])),
            "sorted + filtered page": timed(
                lambda: search(
                    filter="metrics.m3 > 0.5 and metrics.m2 < 0.5", order_by=["metrics.m1 DESC"]
                )
            ),
            "chart data, 100 series": timed(histories),
        }


def measure() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        long_ids = seed_assay(work / "assay")
        with serve("assay", str(work / "assay"), work) as url:
            assay = measure_assay(url, long_ids)
        print("assay", assay, flush=True)
        db = f"sqlite:///{work}/mlflow.db"
        experiment, mlflow_ids = seed_mlflow(db)
        with serve("mlflow", db, work) as url:
            mlflow = measure_mlflow(url, experiment, mlflow_ids)
        print("mlflow", mlflow, flush=True)
    return {"assay": assay, "mlflow": mlflow}


def render(results: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "## Web UI on a large store",
        "",
        f"{RUNS:,} runs ({CONFIG_KEYS} config keys, {METRICS} metrics each) and {LONG_RUNS} "
        f"runs x {LONG_STEPS:,} steps of one metric, embedded SQLite for both; medians of "
        f"{REPEATS} requests",
        "over loopback to `assay server` / `mlflow server` (2 workers each). Assay's pages are",
        "whole HTML pages (50 runs a page); MLflow's figures are its REST endpoints for the",
        "same data (runs search with 50 results; metric history, one request per series).",
        "The chromium figure is navigation until the chart of 20 runs' series is drawn.",
        "",
        "| what | Assay ms | MLflow ms | ratio |",
        "| --- | ---: | ---: | --- |",
    ]
    for what, value in results["assay"].items():
        other = results["mlflow"].get(what)
        ratio = f"Assay {other / value:,.1f}x faster" if other else "no MLflow equivalent"
        shown = f"{other:,.1f}" if other else "-"
        lines.append(f"| {what} | {value:,.1f} | {shown} | {ratio} |")
    return lines


if __name__ == "__main__":
    print("\n".join(render(measure())))
