"""What one monitor pass costs: the series of one window of the request log (traffic,
errors, latency, input and prediction drift against a stored profile, accuracy; for all
traffic, each version and each version and arm) computed and logged to a SQLite store.

    python bench/monitors.py [--rows 10000,100000] [--features 20]

Prints a Markdown table (bench/RESULTS.md, "Monitors").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

WINDOW = 3600.0
REPEATS = 3  # medians
ORIGIN = 1_790_000_000.0 - 1_790_000_000.0 % WINDOW


def requests(n: int, features: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` requests in window 0: half numeric, half categorical inputs; two versions, the
    second on two arms; labels on a tenth of them."""
    cols: dict[str, Any] = {}
    for j in range(features):
        cols[f"input.f{j}"] = (
            rng.normal(size=n) if j % 2 == 0 else rng.choice(["a", "b", "c", "d"], size=n)
        )
    version = rng.choice(["1", "2"], size=n, p=[0.8, 0.2])
    x = cols["input.f0"]
    labelled = rng.uniform(size=n) < 0.1
    truth = np.where(rng.uniform(size=n) < 0.9, x > 0, x <= 0).astype(float)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "time": pd.to_datetime(
                ORIGIN + np.sort(rng.uniform(0, WINDOW - 1, n)), unit="s", utc=True
            ),
            "model": "m",
            "version": version,
            "arm": np.where(version == "2", rng.choice(["a", "b"], size=n), None),
            "status": np.where(rng.uniform(size=n) < 0.01, 500, 200),
            "latency_ms": rng.gamma(4.0, 2.5, size=n),
            **cols,
            "output.prediction": (x > 0).astype(int),
            "label": np.where(labelled, truth, np.nan),
        }
    )


def reference(features: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = requests(5_000, features, rng)
    inputs = frame[[c for c in frame.columns if c.startswith("input.")]]
    return inputs.rename(columns=lambda c: c[len("input.") :])


def measure(rows: list[int], features: int) -> list[tuple[int, float, float, int]]:
    from assay.monitoring import profile
    from assay.monitoring.requests import FrameSource
    from assay.monitoring.spec import MonitorSpec
    from assay.monitoring.windows import evaluate_window
    from assay.sdk import monitors
    from assay.store.sql.store import SqlStore

    rng = np.random.default_rng(7)
    ref = profile(reference(features, rng))
    warm = MonitorSpec(model="m", window=WINDOW, origin=ORIGIN)
    evaluate_window(requests(1_000, features, rng), warm, 0, ref, None)  # imports, caches
    out = []
    for n in rows:
        frame = requests(n, features, rng)
        spec = MonitorSpec(model="m", window=WINDOW, origin=ORIGIN)
        computed, wholes = [], []
        for _ in range(REPEATS):
            started = time.perf_counter()
            result = evaluate_window(frame, spec, 0, ref, None)
            computed.append(time.perf_counter() - started)
            with tempfile.TemporaryDirectory() as tmp:
                store = SqlStore.embedded(Path(tmp) / "store")
                store.models.register(_model(store, Path(tmp)), "m")
                monitor = monitors.add(store, "m", window=WINDOW, reference=ref, start=ORIGIN)
                started = time.perf_counter()
                monitors.run_one(store, monitor.id, FrameSource(frame), now=ORIGIN + WINDOW + 1)
                wholes.append(time.perf_counter() - started)
                store.close()
        out.append((n, statistics.median(computed), statistics.median(wholes), len(result.metrics)))
    return out


def _model(store: Any, root: Path) -> str:
    from assay.artifacts.artifact import Artifact, log_artifact

    (root / "w.bin").write_bytes(b"weights")
    art = Artifact("m-model", type="model")
    art.add_file(root / "w.bin")
    return log_artifact(store, art, "bench").id


def render(found: list[tuple[int, float, float, int]], features: int) -> list[str]:
    lines = [
        f"| requests in the window ({features} inputs; 5 slices: all, 2 versions, 2 arms) "
        "| series | window series computed | one monitor pass, logged to SQLite |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for n, computed, whole, series in found:
        lines.append(f"| {n:,} | {series} | {computed:.2f} s | {whole:.2f} s |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    print("\n".join(render(measure(rows, args.features), args.features)))


if __name__ == "__main__":
    main()
