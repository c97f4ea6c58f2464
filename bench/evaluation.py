"""Evaluation: Assay's ``evaluate`` against MLflow's ``mlflow.models.evaluate`` on the same
items and the same model function, in the same run.

20,000 items of 8 numeric features and a label in 10 classes; the model is a cheap function
(so the figures are each tool's own overhead, not the model's). Measured:
- one model, classifier metrics (Assay: accuracy with its CI, macro F1 with a 1,000-draw
  bootstrap CI, per-item results stored; MLflow: its default classifier metrics logged to
  a run, explainability off);
- Assay only: candidate vs baseline (both models run, paired comparison, Holm, verdict);
- Assay only: the same evaluation again, every output from the on-disk cache.

    python bench/evaluation.py [--items 20000] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sections

HERE = Path(__file__).resolve().parent
MARK = "## Evaluation"
REPEATS = 3


def _rows(n: int) -> list[dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8))
    label = (np.abs(x[:, 0] * 3).astype(int) + np.arange(n)) % 10
    return [
        {"id": i, **{f"f{j}": float(x[i, j]) for j in range(8)}, "label": int(label[i])}
        for i in range(n)
    ]


def _predict(row: dict[str, Any], noise: int) -> int:
    """Right unless the item's id hashes into the noise band."""
    truth = (abs(int(row["f0"] * 3)) + int(row["id"])) % 10
    return truth if (int(row["id"]) * 2654435761) % 100 >= noise else (truth + 1) % 10


def candidate(row: dict[str, Any]) -> int:
    return _predict(row, 12)


def baseline(row: dict[str, Any]) -> int:
    return _predict(row, 10)


def _median(fn: Any) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def assay_cases(rows: list[dict[str, Any]], work: Path) -> dict[str, float]:
    import assay

    os.environ["ASSAY_CACHE_DIR"] = str(work / "cache")
    scorers = ["accuracy", assay.scorers.f1(average="macro")]
    common: dict[str, Any] = {
        "label_column": "label",
        "id_column": "id",
        "project": "bench",
        "uri": work / "store",
        "progress": False,
    }
    one = _median(lambda: assay.evaluate(candidate, rows, scorers, cache=False, **common))
    paired = _median(
        lambda: assay.evaluate(
            candidate,
            rows,
            scorers,
            baseline=baseline,
            tolerance={"accuracy": 0.01},
            cache=False,
            **common,
        )
    )
    assay.evaluate(candidate, rows, scorers, **common)  # fill the cache
    cached = _median(lambda: assay.evaluate(candidate, rows, scorers, **common))
    return {"one model": one, "candidate vs baseline": paired, "again, from the cache": cached}


def mlflow_case(rows: list[dict[str, Any]], work: Path) -> dict[str, float]:
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    # its plots and tables go to the temp folder, not ./mlruns
    experiment = mlflow.create_experiment("bench", artifact_location=(work / "mlruns").as_uri())
    frame = pd.DataFrame(rows)

    def model(df: pd.DataFrame) -> list[int]:
        return [candidate(r) for r in df.to_dict(orient="records")]

    def once() -> None:
        with mlflow.start_run(experiment_id=experiment):
            mlflow.models.evaluate(
                model,
                frame,
                targets="label",
                model_type="classifier",
                evaluator_config={"log_model_explainability": False},
            )

    return {"one model": _median(once)}


def measure(items: int) -> dict[str, dict[str, float]]:
    rows = _rows(items)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="assay-bench-eval-") as tmp:
        for name, case in (("Assay", assay_cases), ("MLflow", mlflow_case)):
            work = Path(tmp) / name
            work.mkdir()
            print(f"evaluation: {name} ...", file=sys.stderr, flush=True)
            results[name] = case(rows, work)
    return results


def measure_apart(items: int) -> dict[str, dict[str, float]]:
    """``measure`` in a fresh interpreter: after the other benchmarks, this process holds
    their threads and state, which slowed both tools here by a quarter or more."""
    import json
    import subprocess

    command = [sys.executable, str(Path(__file__)), "--items", str(items), "--json"]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    results: dict[str, dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def render(results: dict[str, dict[str, float]], items: int, command: str) -> list[str]:
    ours, peer = results["Assay"], results["MLflow"]
    lines = [
        MARK,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}: {items:,} items and a model",
        "function that costs microseconds (so each figure is the tool's own overhead), median",
        "of 3. Assay: `assay.evaluate` with accuracy and macro F1, each with a 95% CI (F1 by a",
        "1,000-draw bootstrap), every item's result stored in the embedded store, 4 worker",
        "threads. MLflow: `mlflow.models.evaluate` (classifier defaults, explainability off)",
        "in a run on SQLite; it reports no CI and no paired comparison, so the last two rows",
        "are Assay's alone.",
        "",
        "| what | Assay | MLflow | ratio |",
        "| --- | ---: | ---: | --- |",
    ]
    for label, seconds in ours.items():
        other = peer.get(label)
        if not other:
            ratio = "-"
        elif other >= seconds:
            ratio = f"{other / seconds:.1f}x faster"
        else:
            ratio = f"{seconds / other:.1f}x slower"
        theirs = f"{other:.2f} s" if other else "-"
        lines.append(
            f"| {label} | {seconds:.2f} s ({items / seconds:,.0f} items/s) | {theirs} | {ratio} |"
        )
    return lines


def write(out: Path, lines: list[str]) -> None:
    """Replace this section of RESULTS.md (or append it)."""
    sections.replace(out, MARK, lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--json", action="store_true", help="Print the timings as JSON only.")
    args = parser.parse_args()
    if args.json:
        import json

        print(json.dumps(measure(args.items)))
        return
    command = "python bench/evaluation.py" + (
        f" --items {args.items}" if args.items != 20_000 else ""
    )
    lines = render(measure(args.items), args.items, command)
    write(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
