"""UI server times on a large store, against MLflow's endpoints on the same data.

100,000 runs (20 config keys, 10 metrics each), 100 runs x 20,000 steps of one metric and
one run of 10,000 metric keys. Assay, on SQLite and on PostgreSQL: the runs table page
(with its column picker), a sorted and filtered page, that page grouped by a config key
and the sorted page grouped without a filter, each with its group statistics (over every
run the filter matches, or the project's 100,000 runs: a request of their own, which the
page does not wait for, timed in a row of its own), the chart data of 100 runs, the run page
of 10,000 keys, a search of its summary and its first page of charts, and the time until
a chart is drawn in headless chromium. MLflow (SQLite; the bench venv has no PostgreSQL
driver for it): its server's runs search (the same page size, filter and order), its
batched metric history for the same 100 runs (the route its own charts use) and the run
of 10,000 keys.

    python bench/ui_load.py [--runs 100000] [--backends sqlite,postgresql] [--no-mlflow]
                            [--store DIR]

The runs are written in bulk (bench/ui_seed.py), the same rows for both systems. With
``--store``, Assay's SQLite store is kept in DIR and a later run with the same number of
runs measures it again instead of seeding another (seeding takes minutes; the pages
only read, so a kept store measures as a fresh one).
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
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
import ui_seed  # noqa: E402
from server_load import serve  # noqa: E402

RUNS, CONFIG_KEYS, METRICS = 100_000, 20, 10
LONG_RUNS, LONG_STEPS = 100, 20_000
WIDE_KEYS = 10_000
MIN_SAMPLES, MAX_SAMPLES = 15, 100
CHROMIUM_SAMPLES = 15
OPTIMISERS = ("adam", "sgd", "rmsprop", "adagrad")
FILTER = "summary.m3 > 0.5 and summary.m2 < 0.5"
MLFLOW_FILTER = "metrics.m3 > 0.5 and metrics.m2 < 0.5"


def config_of(i: int) -> dict[str, Any]:
    """20 keys: an optimiser (4 values) and a depth (1..8) to group by, 18 random floats."""
    rng = random.Random(i)
    floats = {f"k{j}": rng.random() for j in range(2, CONFIG_KEYS)}
    return {"opt": OPTIMISERS[i % 4], "depth": 1 + i % 8, **floats}


def spec(i: int) -> ui_seed.RunSpec:
    rng = random.Random(-i)
    return f"run-{i}", config_of(i), {f"m{j}": rng.random() for j in range(METRICS)}


def seed_assay(store: Any, runs: int, now: float) -> tuple[list[str], str]:
    """(the long runs' ids, the wide run's id)."""
    from assay.ids import new_run_id
    from assay.records import Batch, CreateRun, Points

    t0 = time.perf_counter()
    ui_seed.check_assay(store, "check", spec, now)
    ui_seed.bulk_assay(store, "big", runs, spec, now)
    print(f"assay: {runs:,} runs seeded in {ui_seed.elapsed(t0)}", flush=True)

    def create(project: str, name: str) -> CreateRun:
        return CreateRun(
            project=project,
            name=name,
            created_at=now,
            config={},
            tags=[],
            notes=None,
            group=None,
            job_type=None,
            host={},
        )

    long_ids = []
    steps = np.arange(LONG_STEPS, dtype="<i8")
    for i in range(LONG_RUNS):
        run_id = new_run_id()
        values = np.cumsum(np.random.default_rng(i).normal(size=LONG_STEPS))
        times = now + steps.astype("<f8")
        loss = Points(
            key="loss", steps=steps.tobytes(), times=times.tobytes(), values=values.tobytes()
        )
        ops = [create("long", f"long-{i}"), loss]
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))
        long_ids.append(run_id)
    wide_id = new_run_id()
    one = np.zeros(1, dtype="<i8").tobytes()
    stamp = np.full(1, now, dtype="<f8").tobytes()
    wide: list[Any] = [create("wide", "wide")]
    wide += [
        Points(key=f"m{k:05d}", steps=one, times=stamp, values=np.array([k], "<f8").tobytes())
        for k in range(WIDE_KEYS)
    ]
    store.runs.write_batch(Batch(run_id=wide_id, writer="w", seq=0, ops=wide))
    return long_ids, wide_id


def seed_mlflow(path: str, runs: int, now: float) -> tuple[str, list[str], str]:
    """(the big experiment's id, the long runs' ids, the wide run's id)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    big = client.create_experiment("big")
    t0 = time.perf_counter()
    ui_seed.bulk_mlflow(path, big, runs, spec, now)
    print(f"mlflow: {runs:,} runs seeded in {ui_seed.elapsed(t0)}", flush=True)
    long = client.create_experiment("long")
    ids = []
    for i in range(LONG_RUNS):
        run_id = client.create_run(long).info.run_id
        values = np.cumsum(np.random.default_rng(i).normal(size=LONG_STEPS))
        ui_seed.mlflow_series(path, run_id, "loss", values, now)
        ids.append(run_id)
    wide_id = client.create_run(client.create_experiment("wide")).info.run_id
    stamp = int(now * 1000)
    keys = [Metric(f"m{k:05d}", float(k), stamp, 0) for k in range(WIDE_KEYS)]
    for start in range(0, WIDE_KEYS, 1000):
        client.log_batch(wide_id, metrics=keys[start : start + 1000])
    return big, ids, wide_id


Timing = tuple[float, float]  # (median, p99) in ms


def timed(fn: Any) -> Timing:
    """Median and 99th percentile of the request's time: after one warm request, as many
    as fit in about 20 s, between 15 and 100 (so a slow peer's row still finishes)."""
    t0 = time.perf_counter()
    fn()
    warm = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(max(MIN_SAMPLES, min(MAX_SAMPLES, int(20_000 / max(warm, 1.0))))):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return summarise(samples)


def summarise(samples: list[float]) -> Timing:
    p99 = statistics.quantiles(samples, n=100, method="inclusive")[98]
    return statistics.median(samples), p99


def measure_assay(url: str, runs: int, long_ids: list[str], wide_id: str) -> dict[str, Timing]:
    with httpx.Client(base_url=url, timeout=120) as http:

        def get(path: str, **params: Any) -> None:
            http.get(path, params=params).raise_for_status()

        http.get("/login").raise_for_status()  # the CSRF cookie the POST routes check
        csrf = {"x-csrf-token": http.cookies["assay_csrf"]}

        def post(path: str, body: dict[str, Any]) -> None:
            http.post(path, json=body, headers=csrf).raise_for_status()

        table = "/ui/projects/big/table"
        filtered_groups = http.get(
            table, params={"filter": FILTER, "sort": "-summary.m1", "group": "config.opt"}
        ).text
        all_groups = http.get(table, params={"sort": "-summary.m1", "group": "config.opt"}).text
        pages = {
            "runs page": timed(lambda: get("/projects/big")),
            "column picker (every key of the project)": timed(
                lambda: get("/ui/projects/big/picker")
            ),
            "sorted + filtered page": timed(lambda: get(table, filter=FILTER, sort="-summary.m1")),
            "that filter's exact count (asked apart)": timed(
                lambda: get("/ui/projects/big/count", filter=FILTER)
            ),
            "grouped by config.opt, stats over the filter": timed(
                lambda: get(table, filter=FILTER, sort="-summary.m1", group="config.opt")
            ),
            **stats_apart(http, "its group statistics (asked apart)", filtered_groups),
            "grouped by config.opt, stats over every run": timed(
                lambda: get(table, sort="-summary.m1", group="config.opt")
            ),
            **stats_apart(http, "their group statistics (asked apart)", all_groups),
            f"last page of {runs:,}": timed(lambda: get(table, page=str(runs // 50))),
            "chart data, 100 runs x 20,000 steps": timed(
                lambda: post("/ui/api/series", {"runs": long_ids, "keys": ["loss"]})
            ),
            "run page, 10,000 keys": timed(lambda: get(f"/runs/{wide_id}")),
            "its summary searched": timed(lambda: get(f"/ui/runs/{wide_id}/summary", q="m0999")),
            "its first 24 charts": timed(
                lambda: post("/ui/api/series", {"runs": [wide_id], "kind": "user", "limit": 24})
            ),
        }
    return pages | drawn_chart(url, long_ids[:20])


def stats_apart(http: httpx.Client, what: str, page: str) -> dict[str, Timing]:
    """The row of a grouped page's statistics when the page asks for them apart (what
    its user waits for before they show); none when the page holds them."""
    found = re.search(r'class="group-stats" hx-get="([^"]+)"', page)
    if found is None:
        return {}
    url = html.unescape(found.group(1))
    return {what: timed(lambda: http.get(url).raise_for_status())}


def drawn_chart(url: str, ids: list[str]) -> dict[str, Timing]:
    """The chromium row, where Playwright is installed (the dev venv has it)."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("no playwright here: the chromium row is left out", flush=True)
        return {}
    return {"drawn chart in chromium (20 runs)": drawn_chart_ms(url, ids)}


def drawn_chart_ms(url: str, ids: list[str]) -> Timing:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        samples = []
        for _ in range(CHROMIUM_SAMPLES):
            t0 = time.perf_counter()
            page.goto(f"{url}/projects/long?sel={','.join(ids)}")
            page.wait_for_selector("#charts .chart[data-key='loss'] canvas")
            samples.append((time.perf_counter() - t0) * 1000)
        browser.close()
    return summarise(samples)


def measure_mlflow(
    url: str, experiment: str, long_ids: list[str], wide_id: str
) -> dict[str, Timing]:
    with httpx.Client(base_url=url, timeout=300) as http:

        def search(**body: Any) -> None:
            http.post(
                "/api/2.0/mlflow/runs/search",
                json={"experiment_ids": [experiment], "max_results": 50, **body},
            ).raise_for_status()

        def bulk_history() -> None:
            http.get(
                "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                params={"run_ids": long_ids, "metric_key": "loss", "max_results": 1500},
            ).raise_for_status()

        return {
            "runs page": timed(lambda: search(order_by=["attributes.start_time DESC"])),
            "sorted + filtered page": timed(
                lambda: search(filter=MLFLOW_FILTER, order_by=["metrics.m1 DESC"])
            ),
            "chart data, 100 runs x 20,000 steps": timed(bulk_history),
            "run page, 10,000 keys": timed(
                lambda: http.get(
                    "/api/2.0/mlflow/runs/get", params={"run_id": wide_id}
                ).raise_for_status()
            ),
        }


def measure_one(
    backend: str, runs: int, work: Path, admin: str | None, kept: Path | None = None
) -> dict[str, Timing]:
    from assay.store.sql.store import SqlStore

    now = time.time() - runs
    seeded = kept / f"seeded-{runs}.json" if kept is not None else None
    if backend == "postgresql":
        assert admin is not None
        from tests.services import create_database

        uri = create_database(admin, "ui_bench")
        store = SqlStore.from_url(uri, blobs=work / "pg-blobs")
    elif seeded is not None and seeded.exists():
        uri = str(seeded.parent / "assay")
        long_ids, wide_id = json.loads(seeded.read_text())
        print(f"assay: the store seeded before in {uri}", flush=True)
        return served(uri, work, runs, (long_ids, wide_id), backend)
    else:
        uri = str((kept or work) / "assay")
        store = SqlStore.embedded(Path(uri))
    long_ids, wide_id = seed_assay(store, runs, now)
    store.close()
    if seeded is not None and backend == "sqlite":
        seeded.write_text(json.dumps([long_ids, wide_id]))
    return served(uri, work, runs, (long_ids, wide_id), backend)


def served(
    uri: str, work: Path, runs: int, seeded: tuple[list[str], str], backend: str
) -> dict[str, Timing]:
    long_ids, wide_id = seeded
    with serve("assay", uri, work) as url:
        found = measure_assay(url, runs, long_ids, wide_id)
    print(f"assay ({backend})", found, flush=True)
    return found


def measure(
    runs: int = RUNS,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
    mlflow: bool = True,
    kept: Path | None = None,
) -> Results:
    from tests.services import postgres_cluster

    results: Results = {"runs": {"": (float(runs), 0.0)}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "sqlite" in backends:
            results["assay, SQLite"] = measure_one("sqlite", runs, work, None, kept)
        if "postgresql" in backends:
            with postgres_cluster() as admin:
                results["assay, PostgreSQL"] = measure_one("postgresql", runs, work, admin)
        if not mlflow:
            return results
        db = str(work / "mlflow.db")
        experiment, mlflow_ids, wide = seed_mlflow(db, runs, time.time() - runs)
        with serve("mlflow", f"sqlite:///{db}", work) as url:
            results["mlflow, SQLite"] = measure_mlflow(url, experiment, mlflow_ids, wide)
        print("mlflow", results["mlflow, SQLite"], flush=True)
    return results


Results = dict[str, dict[str, Timing]]  # system -> what -> timing; "runs": the count


def render(results: Results) -> list[str]:
    runs = int(results["runs"][""][0])
    systems = [k for k in results if k != "runs"]
    assays = [k for k in systems if k.startswith("assay")]
    lines = [
        "## Web UI on a large store",
        "",
        f"{runs:,} runs ({CONFIG_KEYS} config keys, {METRICS} metrics each, written in bulk by",
        f"bench/ui_seed.py), {LONG_RUNS} runs x {LONG_STEPS:,} steps of one metric and one run "
        f"of {WIDE_KEYS:,}",
        "metric keys; median and p99 of each request's time at the client over loopback to",
        f"`assay server` / `mlflow server` (2 workers each): {MIN_SAMPLES} to {MAX_SAMPLES} "
        "requests a row after a warm one",
        f"(as many as fit in 20 s; with few samples p99 is about the slowest), "
        f"{CHROMIUM_SAMPLES} for chromium.",
        "Assay's pages are whole HTML pages (50 runs a page); MLflow's figures are its REST",
        "endpoints for the same data (runs search with 50 results, the batched metric history",
        "its charts use, the run with all its metrics); MLflow's UI groups and draws in the",
        "browser, so it has no server figure for those rows. Target: every Assay page",
        "≤ 150 ms. The chromium figure is navigation until the chart of 20 runs is drawn.",
        "",
        "| what | "
        + " | ".join(f"{s} median ms | p99 ms" for s in systems)
        + " | Assay against MLflow (medians) |",
        "| --- | " + " | ".join("---: | ---:" for _ in systems) + " | --- |",
    ]
    peer = results.get("mlflow, SQLite", {})
    for what in results[assays[0]]:
        cells = [
            "{:,.1f} | {:,.1f}".format(*results[s][what]) if what in results[s] else "- | -"
            for s in systems
        ]
        ours = results[assays[0]][what][0]
        ratio = f"{peer[what][0] / ours:,.1f}x faster (SQLite)" if what in peer else "-"
        lines.append(f"| {what} | " + " | ".join(cells) + f" | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-mlflow", action="store_true", help="Assay's pages alone.")
    parser.add_argument(
        "--store", type=Path, help="Keep Assay's SQLite store here and reuse it when seeded."
    )
    args = parser.parse_args()
    backends = tuple(b for b in args.backends.split(",") if b)
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
    results = measure(args.runs, backends, mlflow=not args.no_mlflow, kept=args.store)
    print("\n".join(render(results)))


if __name__ == "__main__":
    main()
