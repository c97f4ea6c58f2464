"""Artifact storage: Assay against MLflow's log_artifact and DVC's ``dvc add`` on the
same files, in the same run.

A base file of random bytes (1 GiB by default), then three edits of it:
- "1% in 100 places": 1% of the bytes rewritten in 100 scattered places (~107 KB each);
- "1% in 1000 places": the same 1% in 1,000 places (~11 KB each), a harder case;
- "1 MiB inserted at the start": every byte after it shifts.
For each tool: throughput storing the base file (hash + store, MB/s), bytes newly stored
by each edited version, and download (Assay: with digest verification) throughput.
Then the machine's limits on the same bytes: a raw write + fsync of the file, BLAKE3 on
one thread and on every core, and FastCDC alone (it holds the GIL).

    python bench/artifacts.py [--size-mib 1024] [--out bench/RESULTS.md]
    python bench/artifacts.py --tools assay --loose   # Assay alone, packs against loose files

``--tools`` picks the tools (a subset is printed, not written to RESULTS.md unless
``--out`` is given); ``--loose`` adds Assay writing each chunk as a loose file with its
own fsync (the blob folder's path before pack files), to compare in the same run.
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
from collections.abc import Callable, Sequence
from pathlib import Path

import sections

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


def assay_case(files: dict[str, Path], work: Path, loose: bool = False) -> dict[str, float]:
    from assay.artifacts.artifact import Artifact, download, log_artifact
    from assay.store.blobs import LocalBlobStore
    from assay.store.sql.store import SqlStore

    class LooseFiles(LocalBlobStore):
        """A file and an fsync per chunk: the blob folder before pack files."""

        def put_many(self, blobs: Sequence[bytes]) -> list[str]:
            return [self.put(data) for data in blobs]

    store = SqlStore.embedded(work / "store")
    blobs = work / "store" / "blobs"
    if loose:
        store.blobs.storage = LooseFiles(blobs)

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


def limits(files: dict[str, Path], work: Path) -> dict[str, float]:
    """What this machine allows, in MB/s, on the base file (warm page cache)."""
    from blake3 import blake3
    from fastcdc import fastcdc

    from assay.artifacts.chunking import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK

    data = files["base"].read_bytes()
    size = len(data) / 1e6
    view = memoryview(data)

    def write_fsync() -> None:
        fd = os.open(work / "raw.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            for start in range(0, len(view), 16 << 20):
                os.write(fd, view[start : start + (16 << 20)])
            os.fsync(fd)
        finally:
            os.close(fd)

    def chunk() -> None:
        for _ in fastcdc(view, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK):
            pass

    return {
        "disk write + fsync": size / timed(write_fsync),
        "BLAKE3, 1 thread": size / timed(lambda: blake3(data, max_threads=1).digest()),
        "BLAKE3, every core": size / timed(lambda: blake3(data, max_threads=-1).digest()),
        "FastCDC chunking (holds the GIL)": size / timed(chunk),
    }


CASES: dict[str, Callable[[dict[str, Path], Path], dict[str, float]]] = {
    "assay": assay_case,
    "assay, loose files": lambda files, work: assay_case(files, work, loose=True),
    "mlflow": mlflow_case,
    "dvc": dvc_case,
}


def measure(
    size: int, tools: Sequence[str]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="assay-bench-art-") as tmp:
        folder = Path(tmp)
        files = make_files(folder, size)
        for name in tools:
            case = CASES[name]
            work = folder / name.replace(", ", "-").replace(" ", "-")
            work.mkdir()
            print(f"artifacts: {name} ...", file=sys.stderr, flush=True)
            results[name] = case(files, work)
            shutil.rmtree(work)
        work = folder / "limits"
        work.mkdir()
        machine = limits(files, work)
    return results, machine


def render(
    results: dict[str, dict[str, float]], machine: dict[str, float], size: int, command: str
) -> list[str]:
    tools = list(results)
    lines = [
        MARK,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}: a {size / 2**30:.2f} GiB file of "
        "random bytes, then three edited versions of it",
        "(`bench/artifacts.py` says how each is made). Local disk, warm page cache. Assay:",
        "embedded store (content-defined chunks written into pack files, fsynced before the",
        "manifest commits; MLflow and DVC do not fsync);",
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
    lines += ["", "The machine's limits on the same file (one process, warm page cache):", ""]
    lines += ["| limit | MB/s |", "| --- | ---: |"]
    lines += [f"| {name} | {value:,.0f} |" for name, value in machine.items()]
    return lines


def write(out: Path, lines: list[str]) -> None:
    """Replace this section of RESULTS.md (or append it)."""
    sections.replace(out, MARK, lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--tools", default="assay,mlflow,dvc", help="comma-separated")
    parser.add_argument("--loose", action="store_true", help="add Assay with loose files")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    size = args.size_mib << 20
    tools = [t for t in args.tools.split(",") if t]
    if args.loose:
        tools.insert(tools.index("assay") + 1 if "assay" in tools else 0, "assay, loose files")
    unknown = [t for t in tools if t not in CASES]
    if unknown:
        parser.error(f"unknown tools {unknown}; pick among {sorted(CASES)}")
    command = "python bench/artifacts.py" + (
        f" --size-mib {args.size_mib}" if args.size_mib != 1024 else ""
    )
    if args.tools != "assay,mlflow,dvc":
        command += f" --tools {args.tools}"
    command += " --loose" if args.loose else ""
    results, machine = measure(size, tools)
    lines = render(results, machine, size, command)
    out = args.out
    if out is None and args.tools == "assay,mlflow,dvc" and not args.loose:
        out = HERE / "RESULTS.md"  # the full comparison, as `make bench` runs it
    if out is not None:
        write(out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_TRACKING_URI", "")
    main()
