"""MLflow's own client against `assay server` and against `mlflow server`, in one run.

    python bench/mlflow_api.py [--calls 300] [--out FILE]

Both servers on SQLite, on loopback, two workers each, started fresh; one MlflowClient
per server in this process. Measured per call (milliseconds): `log_metric` (one request
per point, as the fluent API sends it), `log_batch` (1,000 metrics per call),
`search_runs` over 200 runs with a filter and an order (`metrics.loss < 0.5`, ordered by
`metrics.loss`). Medians and 99th percentiles over the calls; the ratio is MLflow's
median over Assay's (above 1: Assay is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from server_load import serve  # noqa: E402


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(url: str, calls: int) -> dict[str, list[float]]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"bench-{time.time_ns()}")
    run_id = client.create_run(experiment).info.run_id
    now = int(time.time() * 1000)
    results = {
        "log_metric": timed(
            calls, lambda i: client.log_metric(run_id, "loss", 1 / (i + 1), now, i)
        ),
    }
    batch = [Metric(f"m{k}", float(k), now, 0) for k in range(1000)]
    results["log_batch (1,000 metrics)"] = timed(
        max(calls // 10, 10),
        lambda i: client.log_batch(run_id, metrics=[Metric(m.key, m.value, now, i) for m in batch]),
    )
    for r in range(200):
        other = client.create_run(experiment).info.run_id
        client.log_batch(other, metrics=[Metric("loss", r / 200, now, 0)])
    results["search_runs (200 runs)"] = timed(
        max(calls // 10, 10),
        lambda i: client.search_runs(
            [experiment], "metrics.loss < 0.5", order_by=["metrics.loss DESC"], max_results=100
        ),
    )
    return results


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", default=None, help="Append the results as a section to this file.")
    args = parser.parse_args()
    found: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("assay", "mlflow"):
            work = Path(tmp) / kind
            work.mkdir()
            backend = str(work / "store") if kind == "assay" else f"sqlite:///{work / 'm.db'}"
            with serve(kind, backend, work) as url:
                found[kind] = measure(url, args.calls)
    lines = [
        "| call | Assay median ms | Assay p99 ms | MLflow median ms | MLflow p99 ms | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for what, assay in found["assay"].items():
        mlflow = found["mlflow"][what]
        a, m = statistics.median(assay), statistics.median(mlflow)
        lines.append(
            f"| {what} | {a:.2f} | {p99(assay):.2f} | {m:.2f} | {p99(mlflow):.2f} | {m / a:.1f}x |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "a") as out:
            out.write(section(args.calls, table))


def section(calls: int, table: str) -> str:
    """The table as a section of bench/RESULTS.md: what ran, with what, on what load."""
    import mlflow

    from assay._version import __version__

    load = os.getloadavg()[0]
    said = textwrap.fill(
        f"`python bench/mlflow_api.py --calls {calls}`: one MlflowClient per server in one "
        "process, both servers on SQLite, on loopback, 2 workers each, started fresh "
        f"(assay {__version__}, mlflow {mlflow.__version__}; load average {load:.1f} on "
        "the shared 2-core machine when it ended). Milliseconds per call; the ratio is "
        "MLflow's median over Assay's (above 1: Assay is faster).",
        88,
    )
    return f"\n## MLflow's client against assay server and mlflow server\n\n{said}\n\n{table}\n"


if __name__ == "__main__":
    main()
