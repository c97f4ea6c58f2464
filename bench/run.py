"""Run every benchmark against Assay, MLflow and W&B (offline) in the same run.

    python bench/run.py --out bench/RESULTS.md [--quick]

Each measurement runs in a fresh process (bench/cases.py), ``--processes`` times; the
table reports the median over processes and the ratio against Assay.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


@dataclass
class Row:
    what: str
    framework: str
    value: float
    unit: str


def case(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [PY, str(HERE / "cases.py"), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median_of(processes: int, field: str, *args: str) -> float:
    return statistics.median(case(*args)[field] for _ in range(processes))


def import_time(statement: str, processes: int) -> float:
    code = f"import time; t=time.perf_counter(); {statement}; print(time.perf_counter()-t)"
    times = []
    for _ in range(processes):
        out = subprocess.run(
            [PY, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "WANDB_SILENT": "true"},
        )
        times.append(float(out.stdout.strip().splitlines()[-1]) * 1000)
    return statistics.median(times)


def measure(quick: bool, processes: int) -> list[Row]:
    scale = 0.2 if quick else 1.0

    def n(steps: int) -> str:
        return str(max(50, int(steps * scale)))

    rows: list[Row] = []
    log_steps = {"assay": 20_000, "wandb-offline": 2_000, "mlflow-async": 1_000, "mlflow-sync": 300}
    for keys in (10, 100):
        for fw, steps in log_steps.items():
            value = median_of(
                processes, "us_per_step", "log", fw, "--keys", str(keys), "--steps", n(steps)
            )
            rows.append(Row(f"log() per step, {keys} keys", fw, value, "µs"))
            print(rows[-1], flush=True)
    ingest_steps = {"assay": 20_000, "wandb-offline": 3_000, "mlflow-batch": 1_000}
    for fw, steps in ingest_steps.items():
        value = median_of(
            processes, "points_per_s", "ingest", fw, "--keys", "100", "--steps", n(steps)
        )
        rows.append(Row("durable ingest, 100 keys/step", fw, value, "points/s"))
        print(rows[-1], flush=True)
    for fw in ("assay", "mlflow"):
        result = case("read", fw, "--steps", "20000", "--repeats", "7")
        rows.append(Row("read one 20k-point series (full)", fw, result["full_ms"], "ms"))
        if fw == "assay":
            rows.append(
                Row(
                    "read one 20k-point series (1,500 points, min/max kept)",
                    fw,
                    result["downsampled_ms"],
                    "ms",
                )
            )
            rows.append(
                Row("read one 20k-point series (pandas DataFrame)", fw, result["pandas_ms"], "ms")
            )
        print(rows[-1], flush=True)
    for statement, fw in (
        ("import assay", "assay"),
        ("import mlflow", "mlflow"),
        ("import wandb", "wandb-offline"),
    ):
        rows.append(Row("import", fw, import_time(statement, max(processes, 5)), "ms"))
        print(rows[-1], flush=True)
    # what a training script pays before its first log(): the SDK and its writer
    touched = "import assay; assay.init; assay.Api"
    rows.append(
        Row("import + load init and Api", "assay", import_time(touched, max(processes, 5)), "ms")
    )
    return rows


def ratio(row: Row, rows: list[Row]) -> str:
    base = next((r for r in rows if r.what == row.what and r.framework == "assay"), None)
    if base is None or row.framework == "assay" or not base.value or not row.value:
        return ""
    higher_is_better = row.unit == "points/s"
    factor = base.value / row.value if higher_is_better else row.value / base.value
    return f"Assay {factor:,.1f}x {'faster' if factor >= 1 else 'slower'}"


def render(rows: list[Row], command: str, seconds: float) -> str:
    versions = {
        name: _version(name) for name in ("assay", "mlflow", "wandb", "sqlalchemy", "numpy")
    }
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} in {seconds:.0f} s.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, {_cpu()}, "
        f"Python {platform.python_version()}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        "Each figure is the median over fresh processes (`bench/cases.py` says how each is taken);",
        "ratios compare with Assay measured in the same run. Embedded stores on local disk:",
        "Assay on SQLite + journal, MLflow on a SQLite tracking URI, W&B in offline mode.",
        "",
        "| what | framework | median | ratio |",
        "| --- | --- | ---: | --- |",
    ]
    for row in rows:
        value = f"{row.value:,.0f}" if row.value >= 100 else f"{row.value:,.2f}"
        lines.append(f"| {row.what} | {row.framework} | {value} {row.unit} | {ratio(row, rows)} |")
    lines += ["", "## Against the targets", ""]
    lines += _targets(rows)
    return "\n".join(lines) + "\n"


def _targets(rows: list[Row]) -> list[str]:
    def get(what: str) -> float:
        return next(r.value for r in rows if r.what == what and r.framework == "assay")

    checks = [
        ("log() per step, 10 keys ≤ 10 µs", get("log() per step, 10 keys"), 10.0, "µs", False),
        (
            "durable ingest ≥ 1M points/s",
            get("durable ingest, 100 keys/step"),
            1e6,
            "points/s",
            True,
        ),
        ("read 20k points ≤ 20 ms", get("read one 20k-point series (full)"), 20.0, "ms", False),
        (
            "read downsampled ≤ 5 ms",
            get("read one 20k-point series (1,500 points, min/max kept)"),
            5.0,
            "ms",
            False,
        ),
        ("import assay ≤ 150 ms", get("import"), 150.0, "ms", False),
    ]
    out = []
    for label, value, target, unit, higher in checks:
        met = value >= target if higher else value <= target
        out.append(f"- {label}: {value:,.2f} {unit} — {'met' if met else 'MISSED'}")
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="Fewer steps (a smoke run).")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--no-server", action="store_true", help="Skip the server and UI runs.")
    parser.add_argument("--no-artifacts", action="store_true", help="Skip the 1 GiB artifact runs.")
    parser.add_argument("--no-eval", action="store_true", help="Skip the evaluation runs.")
    parser.add_argument("--no-monitoring", action="store_true", help="Skip the drift runs.")
    parser.add_argument("--evidently-python", default=None, help="A Python with evidently.")
    parser.add_argument("--no-labeling", action="store_true", help="Skip the consensus runs.")
    parser.add_argument("--no-serving", action="store_true", help="Skip the model serving runs.")
    parser.add_argument("--mlflow-python", default=None, help="A Python with mlflow (serving).")
    parser.add_argument("--no-media", action="store_true", help="Skip the image-logging runs.")
    parser.add_argument("--bentoml-python", default=None, help="A Python with bentoml (serving).")
    parser.add_argument("--no-traces", action="store_true", help="Skip the trace ingest runs.")
    parser.add_argument("--no-contention", action="store_true", help="Skip logging on busy cores.")
    parser.add_argument(
        "--phoenix-python", default=None, help="A Python with arize-phoenix (traces)."
    )
    args = parser.parse_args()
    started = time.time()
    rows = measure(args.quick, args.processes)
    server_lines: list[str] = []
    if not args.no_server:
        import server_load
        import ui_load

        server_lines = ["", *server_load.render(server_load.measure())]
        server_lines += ["", *ui_load.render(ui_load.measure())]
    command = "make bench" if not args.quick else "python bench/run.py --quick"
    if not args.no_artifacts:
        import artifacts

        size = (64 if args.quick else 1024) << 20
        server_lines += ["", *artifacts.render(artifacts.measure(size), size, command)]
    if not args.no_eval:
        import evaluation

        items = 2_000 if args.quick else 20_000
        server_lines += ["", *evaluation.render(evaluation.measure_apart(items), items, command)]
    if not args.no_labeling:
        import labeling

        server_lines += ["", *labeling.render(labeling.measure(), command)]
    if not args.no_monitoring:
        import monitoring

        drift = monitoring.measure(args.quick, args.evidently_python)
        server_lines += ["", *monitoring.render(drift, command)]
    if not args.no_serving:
        import serving

        served = serving.measure(args.quick, args.mlflow_python, bentoml_python=args.bentoml_python)
        server_lines += ["", *serving.render(served, command)]
    if not args.no_media:
        import media

        steps = 200 if args.quick else 1000
        server_lines += ["", *media.render(media.measure(steps), steps, command)]
    if not args.no_contention:
        import contention

        busy = contention.measure(args.processes, os.cpu_count() or 2)
        server_lines += ["", *contention.render(busy, command)]
    if not args.no_traces:
        import traces

        batches = 8 if args.quick else 40
        found = traces.measure(
            batches=batches,
            peer_batches=2,
            mlflow_python=args.mlflow_python,
            phoenix_python=args.phoenix_python,
        )
        server_lines += ["", "## Trace ingest (OTLP/HTTP)", ""]
        server_lines += traces.render(found, command, 8, 512)
    text = render(rows, command, time.time() - started).rstrip("\n")
    args.out.write_text(text + "\n" + "\n".join(server_lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
