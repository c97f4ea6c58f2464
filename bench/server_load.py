"""Server ingest under load: 1, 8 and 32 writer processes on loopback.

Assay (`assay server`) and MLflow (`mlflow server`, driven by MLflow's own client with
log_batch), each on SQLite and on PostgreSQL, in the same run. Each writer sends batches
of 1,000 points (10 keys x 100 steps); all writers start together.

    python bench/server_load.py [--systems assay,mlflow] [--backends sqlite,postgresql]
                                [--processes 2] [--writers 1,8,32]

With one system or backend it prints that system's rows alone, without ratios.
``--processes 1,2,4`` runs each server with that many worker processes in turn (one
port, one database): how throughput scales with server processes until the database or
the machine saturates.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.services import create_database, free_port, postgres_cluster  # noqa: E402

WRITERS = (1, 8, 32)
BATCHES = {"assay": 40, "mlflow": 10}  # per writer


@dataclass
class LoadResult:
    system: str
    backend: str
    writers: int
    processes: int
    points_per_s: float
    p50_ms: float
    p99_ms: float


@contextmanager
def serve(kind: str, backend_uri: str, work: Path, processes: int = 2) -> Iterator[str]:
    port = free_port()
    if kind == "assay":
        args = [
            sys.executable,
            "-m",
            "assay",
            "server",
            "--uri",
            backend_uri,
            "--port",
            str(port),
            "--local",
            "--workers",
            str(processes),
            "--blobs",
            str(work / "blobs"),
        ]
        ready = "/readyz"
    else:
        args = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--port",
            str(port),
            "--workers",
            str(processes),
            "--default-artifact-root",
            str(work / "mlruns"),
        ]
        ready = "/health"
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + ready, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{kind} server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def load(kind: str, url: str, writers: int) -> tuple[float, list[float]]:
    start_at = time.time() + 3.0 + writers * 0.15  # time for every writer to import and connect
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "load_client.py"),
                kind,
                url,
                str(BATCHES[kind]),
                str(start_at),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(writers)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} writer failed")
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = max(r["end"] for r in results) - start_at
    latencies = [x for r in results for x in r["latencies"]]
    return sum(r["points"] for r in results) / elapsed, latencies


def measure(
    systems: tuple[str, ...] = ("assay", "mlflow"),
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
    processes: tuple[int, ...] = (2,),
    writer_counts: tuple[int, ...] = WRITERS,
) -> list[LoadResult]:
    out: list[LoadResult] = []
    cluster = postgres_cluster() if "postgresql" in backends else contextlib.nullcontext("")
    with tempfile.TemporaryDirectory() as tmp, cluster as pg_admin:
        work = Path(tmp)
        makers = {
            ("assay", "sqlite"): lambda: str(work / f"assay-{time.time_ns()}"),
            ("mlflow", "sqlite"): lambda: f"sqlite:///{work}/mlflow-{time.time_ns()}.db",
            ("assay", "postgresql"): lambda: create_database(pg_admin, f"a{time.time_ns()}"),
            ("mlflow", "postgresql"): lambda: create_database(pg_admin, f"m{time.time_ns()}"),
        }
        for (kind, backend), make in makers.items():
            if kind not in systems or backend not in backends:
                continue
            for count, writers in itertools.product(processes, writer_counts):
                with serve(kind, make(), work, count) as url:
                    rate, latencies = load(kind, url, writers)
                latencies.sort()
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                out.append(
                    LoadResult(
                        system=kind,
                        backend=backend,
                        writers=writers,
                        processes=count,
                        points_per_s=rate,
                        p50_ms=statistics.median(latencies) * 1000,
                        p99_ms=p99 * 1000,
                    )
                )
                print(out[-1], flush=True)
    return out


def render(results: list[LoadResult]) -> list[str]:
    lines = [
        "## Server ingest under load",
        "",
        "Writer processes on loopback, each sending batches of 1,000 points (10 keys x 100",
        f"steps): {BATCHES['assay']} batches per writer for Assay, {BATCHES['mlflow']} for MLflow "
        "(`log_batch`), all starting together; both servers run 2 worker processes.",
        "Points/s is all points over the wall time from the common start to the last",
        "writer's end; latency is per batch request. PostgreSQL is a throwaway local",
        "cluster (fsync off) shared by both.",
        "",
        "| backend | writers | Assay points/s | MLflow points/s | ratio "
        "| Assay p50 / p99 ms | MLflow p50 / p99 ms |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for backend in ("sqlite", "postgresql"):
        for writers in WRITERS:
            a = next(
                r
                for r in results
                if r.system == "assay" and r.backend == backend and r.writers == writers
            )
            m = next(
                r
                for r in results
                if r.system == "mlflow" and r.backend == backend and r.writers == writers
            )
            lines.append(
                f"| {backend} | {writers} | {a.points_per_s:,.0f} | {m.points_per_s:,.0f} | "
                f"Assay {a.points_per_s / m.points_per_s:,.1f}x | "
                f"{a.p50_ms:,.1f} / {a.p99_ms:,.1f} | "
                f"{m.p50_ms:,.1f} / {m.p99_ms:,.1f} |"
            )
    return lines


def render_one(results: list[LoadResult]) -> list[str]:
    """One system's rows (``--systems`` naming one), without a peer to compare with."""
    lines = [
        "| system | backend | server processes | writers | points/s | p50 / p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.system} | {r.backend} | {r.processes} | {r.writers} | {r.points_per_s:,.0f} | "
            f"{r.p50_ms:,.1f} / {r.p99_ms:,.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", default="assay,mlflow", help="comma-separated")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--processes", default="2", help="server worker processes, comma-separated")
    parser.add_argument("--writers", default=",".join(map(str, WRITERS)), help="comma-separated")
    args = parser.parse_args()
    systems = tuple(args.systems.split(","))
    processes = tuple(int(n) for n in args.processes.split(","))
    writers = tuple(int(n) for n in args.writers.split(","))
    results = measure(systems, tuple(args.backends.split(",")), processes, writers)
    both = (
        {"assay", "mlflow"} <= set(systems)
        and args.backends == "sqlite,postgresql"
        and processes == (2,)
        and writers == WRITERS
    )
    print("\n".join(render(results) if both else render_one(results)))


if __name__ == "__main__":
    main()
