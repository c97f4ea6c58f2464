"""Artifact storage: Assay against MLflow's log_artifact and DVC's ``dvc add`` on the
same files, in the same run.

A base file of random bytes (1 GiB by default), then three edits of it:
- "1% in 100 places": 1% of the bytes rewritten in 100 scattered places (~107 KB each);
- "1% in 1000 places": the same 1% in 1,000 places (~11 KB each), a harder case;
- "1 MiB inserted at the start": every byte after it shifts.
For each tool: throughput storing the base file (hash + store, MB/s), bytes newly stored
by each edited version, and download (Assay: with digest verification) throughput.

    python bench/artifacts.py [--size-mib 1024] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK = "## Artifacts"
EDITS = ("1% in 100 places", "1% in 1000 places", "1 MiB inserted at the start")


def make_files(folder: Path, size: int) -> dict[str, Path]:
    import numpy as np

    rng = random.Random(7)
    base = bytearray(np.random.default_rng(7).bytes(size))  # randbytes stops at 256 MiB
    files = {"base": folder / "base.bin"}
    files["base"].write_bytes(base)
    for label, places in ((EDITS[0], 100), (EDITS[1], 1000)):
        edited = bytearray(base)
        region = size // 100 // places
        for i in range(places):
            start = i * (size // places) + rng.randrange(size // places - region)
            edited[start : start + region] = rng.randbytes(region)
        files[label] = folder / f"edit{places}.bin"
        files[label].write_bytes(edited)
    files[EDITS[2]] = folder / "insert.bin"
    files[EDITS[2]].write_bytes(rng.randbytes(1 << 20) + bytes(base))
    return files


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def assay_case(files: dict[str, Path], work: Path) -> dict[str, float]:
    from assay.artifacts.artifact import Artifact, download, log_artifact
    from assay.store.sql.store import SqlStore

    store = SqlStore.embedded(work / "store")
    blobs = work / "store" / "blobs"

    def log(path: Path) -> object:
        art = Artifact("data", type="dataset")
        art.add_file(path, name="data.bin")
        return log_artifact(store, art, "bench", progress=False)

    size = files["base"].stat().st_size
    result: dict[str, float] = {}
    holder: list[object] = []
    result["store MB/s"] = size / 1e6 / timed(lambda: holder.append(log(files["base"])))
    result["stored base"] = du(blobs)
    for label in EDITS:
        before = du(blobs)
        log(files[label])
        result[label] = du(blobs) - before
    version = holder[0]
    out = work / "download"
    result["download MB/s"] = (
        size / 1e6 / timed(lambda: download(store, version, out, progress=False))
    )  # type: ignore[arg-type]
    store.close()
    return result


def mlflow_case(files: dict[str, Path], work: Path) -> dict[str, float]:
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    root = work / "mlruns"
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    experiment = mlflow.create_experiment("bench", artifact_location=root.as_uri())
    size = files["base"].stat().st_size
    result: dict[str, float] = {}
    staged = work / "stage"
    staged.mkdir()

    def log(path: Path) -> str:
        target = staged / "data.bin"
        shutil.copyfile(path, target)  # same file name in every version, as a user would
        with mlflow.start_run(experiment_id=experiment) as run:
            started = time.perf_counter()
            mlflow.log_artifact(str(target))
            log.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
            return str(run.info.run_id)

    run_id = log(files["base"])
    result["store MB/s"] = size / 1e6 / log.seconds  # type: ignore[attr-defined]
    result["stored base"] = du(root)
    for label in EDITS:
        before = du(root)
        log(files[label])
        result[label] = du(root) - before
    out = work / "download"
    result["download MB/s"] = (
        size
        / 1e6
        / timed(lambda: mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(out)))
    )
    return result


def dvc_case(files: dict[str, Path], work: Path) -> dict[str, float]:
    dvc = str(Path(sys.executable).with_name("dvc"))
    repo = work / "repo"
    repo.mkdir()

    def call(*args: str) -> None:
        subprocess.run([dvc, *args], cwd=repo, check=True, capture_output=True)

    call("init", "--no-scm")
    call("config", "core.analytics", "false")
    cache = repo / ".dvc" / "cache"
    size = files["base"].stat().st_size
    result: dict[str, float] = {}

    def add(path: Path) -> float:
        shutil.copyfile(path, repo / "data.bin")
        return timed(lambda: call("add", "data.bin"))

    result["store MB/s"] = size / 1e6 / add(files["base"])
    result["stored base"] = du(cache)
    for label in EDITS:
        before = du(cache)
        add(files[label])
        result[label] = du(cache) - before
    shutil.copyfile(files["base"], repo / "data.bin")
    call("add", "data.bin")
    (repo / "data.bin").unlink()
    result["download MB/s"] = size / 1e6 / timed(lambda: call("checkout", "data.bin"))
    return result


def measure(size: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="assay-bench-art-") as tmp:
        folder = Path(tmp)
        files = make_files(folder, size)
        for name, case in (("assay", assay_case), ("mlflow", mlflow_case), ("dvc", dvc_case)):
            work = folder / name
            work.mkdir()
            print(f"artifacts: {name} ...", file=sys.stderr, flush=True)
            results[name] = case(files, work)
            shutil.rmtree(work)
    return results


def render(results: dict[str, dict[str, float]], size: int, command: str) -> list[str]:
    tools = list(results)
    lines = [
        MARK,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}: a {size / 2**30:.2f} GiB file of "
        "random bytes, then three edited versions of it",
        "(`bench/artifacts.py` says how each is made). Local disk, warm page cache. Assay:",
        "embedded store (content-defined chunks, synced to disk before the manifest commits);",
        "MLflow: `log_artifact` to a local artifact root; DVC: `dvc add` into its local cache,",
        "`dvc checkout` to restore.",
        "",
        "| what | " + " | ".join(tools) + " |",
        "| --- |" + " ---: |" * len(tools),
    ]

    def pct(value: float) -> str:
        return f"{value / 2**20:,.1f} MiB ({100 * value / size:.1f}%)"

    lines.append(
        "| store the base file (hash + store) | "
        + " | ".join(f"{results[t]['store MB/s']:,.0f} MB/s" for t in tools)
        + " |"
    )
    for label in EDITS:
        lines.append(
            f"| new bytes stored for a version with {label} | "
            + " | ".join(pct(results[t][label]) for t in tools)
            + " |"
        )
    lines.append(
        "| download (Assay: verified against digests) | "
        + " | ".join(f"{results[t]['download MB/s']:,.0f} MB/s" for t in tools)
        + " |"
    )
    return lines


def write(out: Path, lines: list[str]) -> None:
    """Replace the artifacts section of RESULTS.md (or append it)."""
    text = out.read_text() if out.exists() else ""
    head = text.split(MARK, 1)[0].rstrip("\n")
    tail = ""
    if MARK in text:
        rest = text.split(MARK, 1)[1]
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
    out.write_text(
        head + "\n\n" + "\n".join(lines) + "\n" + tail.rstrip("\n") + ("\n" if tail else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    size = args.size_mib << 20
    command = "python bench/artifacts.py" + (
        f" --size-mib {args.size_mib}" if args.size_mib != 1024 else ""
    )
    lines = render(measure(size), size, command)
    write(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_TRACKING_URI", "")
    main()
