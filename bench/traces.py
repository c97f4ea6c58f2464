"""Trace ingest: OTLP/HTTP protobuf batches of GenAI spans from several concurrent
exporters into an ``assay server`` process (embedded SQLite), and the same requests into
its peers' servers, each a real process on a loopback port: ``mlflow server`` (SQLite
backend, its OTLP endpoint) and Arize Phoenix (``phoenix.server.main serve``, its own
SQLite). Then reading a 30,000-span trace back from Assay.

    python bench/traces.py [--exporters 8] [--batches 40] [--spans-per-batch 512] [--rate N]
        [--peer-batches 5] [--mlflow-python PY] [--phoenix-python PY] [--no-peers] [--direct]

Measured: spans/s acknowledged (Assay and MLflow answer once the spans are committed;
Phoenix answers when it has queued them, so its figure also says when the last span was
stored; every exporter sends spans of its own, and the spans stored are counted after),
the p50 and p99 of an export's acknowledgement (all exporters sending as fast as they
are answered, or ``--rate`` spans/s offered in all), the server's CPU time per span (a
measure that holds on a machine others share), and the server time to return one trace
of 30,000 spans (GET /api/v1/traces/{id}). A peer whose Python is missing is skipped
with a message. ``--direct`` measures the store alone: the same spans, decoded and
checked beforehand, written by one thread per exporter into an embedded store in this
process (no HTTP, no decoding), so what remains is the store's own latency.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import free_port, stop

Item = Any  # what one exporter sends at a time: a request body, or checked spans
PROTOBUF = {"content-type": "application/x-protobuf"}


@dataclass(kw_only=True)
class Result:
    """One system's ingest: spans acknowledged, how long, each acknowledgement's time."""

    system: str
    spans: int
    elapsed: float
    acks: list[float]  # seconds, sorted
    cpu: float | None = None  # the server's CPU seconds, when known
    stored_after: float | None = None  # seconds until the last span was stored, if later

    @property
    def rate(self) -> float:
        return self.spans / (self.stored_after or self.elapsed)

    @property
    def p50(self) -> float:
        return statistics.median(self.acks)

    @property
    def p99(self) -> float:
        return self.acks[max(0, int(len(self.acks) * 0.99) - 1)]


def _kv(key: str, value: object) -> common_pb2.KeyValue:
    if isinstance(value, int):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(int_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=str(value)))


MESSAGES = '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'


def batch(spans: int, traces_per_batch: int = 64, trace_id: bytes | None = None) -> bytes:
    """One export request: GenAI chat spans, ``traces_per_batch`` traces (or one)."""
    now = time.time_ns()
    out = []
    current = trace_id or os.urandom(16)
    for i in range(spans):
        if trace_id is None and i % traces_per_batch == 0:
            current = os.urandom(16)
        out.append(
            trace_pb2.Span(
                trace_id=current,
                span_id=os.urandom(8),
                name="chat gpt-4o-mini",
                kind=trace_pb2.Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now + i,
                end_time_unix_nano=now + i + 1_000_000,
                attributes=[
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv("gen_ai.usage.input_tokens", 1200),
                    _kv("gen_ai.usage.output_tokens", 300),
                    _kv("gen_ai.input.messages", MESSAGES),
                ],
            )
        )
    resource = trace_pb2.ResourceSpans(
        resource={"attributes": [_kv("service.name", "bench")]},
        scope_spans=[trace_pb2.ScopeSpans(spans=out)],
    )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[resource]
    ).SerializeToString()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ingest(
    senders: list[Callable[[Item], None]], items: list[list[Item]], spans: int, rate: float | None
) -> tuple[float, list[float]]:
    """Each exporter sends its items one after another through its own sender, at once
    (``rate`` None) or on a schedule that offers ``rate`` spans/s in all (an item due
    while the previous one is unanswered goes as soon as it is answered), ``spans`` in
    each; the time taken and each acknowledgement's, sorted."""
    acks: list[float] = []
    lock = threading.Lock()
    every = len(items) * spans / rate if rate else 0.0  # one exporter's interval
    started = time.perf_counter()

    def exporter(k: int, send: Callable[[Item], None], mine: list[Item]) -> None:
        due = started + every * k / len(items)
        for item in mine:
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            send(item)
            took = time.perf_counter() - sent
            with lock:
                acks.append(took)
            due += every

    threads = [
        threading.Thread(target=exporter, args=(k, send, mine))
        for k, (send, mine) in enumerate(zip(senders, items, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, sorted(acks)


def _poster(client: httpx.Client, url: str, headers: dict[str, str]) -> Callable[[Item], None]:
    """An exporter's sender: one OTLP/HTTP request per body, sent again after the time
    a 429 or 503 asks for (as OTLP exporters do: the export is done when accepted)."""

    def send(body: Item) -> None:
        assert isinstance(body, bytes)
        while True:
            answer = client.post(url, content=body, headers=headers)
            if answer.status_code not in (429, 503):
                break
            time.sleep(float(answer.headers.get("retry-after", "0.1") or 0.1))
        assert answer.status_code == 200, f"{answer.status_code}: {answer.text[:300]}"

    return send


def _stored(base: str, project: str) -> int:
    """How many spans the server holds in ``project`` (the traces' summaries summed)."""
    total, offset = 0, 0
    with httpx.Client(timeout=120) as client:
        while True:
            page = client.get(
                f"{base}/api/v1/traces",
                params={"project": project, "limit": 10_000, "offset": offset},
            )
            page.raise_for_status()
            found = page.json()
            if not found:
                return total
            total += sum(t["n_spans"] for t in found)
            offset += len(found)


def measure_assay(
    bodies: list[list[bytes]], spans: int, rate: float | None, read_big: bool = True
) -> Result:
    """Assay: an ``assay server`` process on an embedded store, the spans counted after."""
    root = Path(tempfile.mkdtemp(prefix="assay-bench-traces-")) / "store"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "assay", "server", "--uri", str(root), "--port", str(port)]
    try:
        with _process(args, f"{base}/readyz") as proc, contextlib.ExitStack() as clients:
            url = f"{base}/v1/traces"
            senders = [
                _poster(clients.enter_context(httpx.Client(timeout=120)), url, PROTOBUF)
                for _ in bodies
            ]
            cpu_before = _cpu_seconds(proc.pid)
            elapsed, acks = _ingest(senders, bodies, spans, rate)
            cpu = _cpu_seconds(proc.pid) - cpu_before
            total = sum(len(mine) for mine in bodies) * spans
            stored = _stored(base, "bench")
            assert stored == total, f"{stored:,} spans stored of {total:,} acknowledged"
            if read_big:
                _read_big(base, url)
        return Result(system="Assay", spans=total, elapsed=elapsed, acks=acks, cpu=cpu)
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def _read_big(base: str, url: str) -> None:
    """Store a trace of 30,000 spans and time reading it whole, and its span tree."""
    big = os.urandom(16)
    with httpx.Client(timeout=120) as client:
        for _ in range(30_000 // 5_000):
            client.post(
                url, content=batch(5_000, trace_id=big), headers=PROTOBUF
            ).raise_for_status()
        started = time.perf_counter()
        read = client.get(f"{base}/api/v1/traces/{big.hex()}")
        took = time.perf_counter() - started
        started = time.perf_counter()
        client.get(f"{base}/ui/traces/{big.hex()}/spans").raise_for_status()
        tree = time.perf_counter() - started
    read.raise_for_status()
    print(
        f"read one 30,000-span trace: {took * 1000:.0f} ms "
        f"({len(read.content) / 1e6:.1f} MB JSON); the trace page's span tree: "
        f"{tree * 1000:.0f} ms"
    )


def measure_direct(bodies: list[list[bytes]], spans: int, rate: float | None) -> Result:
    """The store alone: each exporter's requests decoded and checked beforehand, then
    written by a thread of its own into an embedded store in this process."""
    from assay.store.sql.store import SqlStore
    from assay.store.sql.traces import check_span
    from assay.traces import otlp

    items = []
    for mine in bodies:
        checked = []
        for body in mine:
            decoded = otlp.decode(body, otlp.PROTOBUF)
            checked.append((decoded.spans, [check_span(s) for s in decoded.spans]))
        items.append(checked)
    root = Path(tempfile.mkdtemp(prefix="assay-bench-traces-")) / "store"
    store = SqlStore.embedded(root)
    try:

        def send(item: Item) -> None:
            store.traces.write_checked(*item)

        elapsed, acks = _ingest([send] * len(items), items, spans, rate)
        total = sum(len(mine) for mine in items) * spans
        stored = sum(t.n_spans for t in store.traces.list("bench", limit=1_000_000))
        assert stored == total, f"{stored:,} spans stored of {total:,} acknowledged"
        return Result(system="Assay (in process)", spans=total, elapsed=elapsed, acks=acks)
    finally:
        store.close()
        shutil.rmtree(root.parent, ignore_errors=True)


@contextlib.contextmanager
def _process(
    args: Sequence[str], ready: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, once ``ready`` answers 200; stopped after."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited with {proc.returncode}")
            try:
                if httpx.get(ready, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready} did not answer")
            time.sleep(0.2)
        yield proc
    finally:
        stop(proc)


def measure_mlflow(
    python: str, bodies: list[list[bytes]], spans: int, rate: float | None
) -> Result:
    """MLflow: ``mlflow server`` on a SQLite backend, its OTLP endpoint ``/v1/traces``
    (which logs the spans before it answers), into one experiment named by the
    ``x-mlflow-experiment-id`` header; the spans stored are counted after."""
    with tempfile.TemporaryDirectory(prefix="assay-bench-mlflow-") as tmp:
        port = free_port()
        db = Path(tmp) / "mlflow.db"
        args = [
            str(Path(python).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--default-artifact-root",
            str(Path(tmp) / "mlruns"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ]
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        base = f"http://127.0.0.1:{port}"
        with _process(args, f"{base}/health", env, Path(tmp)) as proc:
            made = httpx.post(
                f"{base}/api/2.0/mlflow/experiments/create", json={"name": "bench"}, timeout=60
            )
            made.raise_for_status()
            headers = {**PROTOBUF, "x-mlflow-experiment-id": made.json()["experiment_id"]}
            with contextlib.ExitStack() as clients:
                senders = [
                    _poster(
                        clients.enter_context(httpx.Client(timeout=600)),
                        f"{base}/v1/traces",
                        headers,
                    )
                    for _ in bodies
                ]
                cpu_before = _tree_cpu(proc.pid)
                elapsed, acks = _ingest(senders, bodies, spans, rate)
                cpu = _tree_cpu(proc.pid) - cpu_before
        total = sum(len(mine) for mine in bodies) * spans
        stored = _count_rows(db, "spans")
        assert stored == total, f"MLflow stored {stored:,} spans of {total:,} acknowledged"
        return Result(system="MLflow", spans=total, elapsed=elapsed, acks=acks, cpu=cpu)


def measure_phoenix(
    python: str, bodies: list[list[bytes]], spans: int, rate: float | None
) -> Result:
    """Phoenix: ``python -m phoenix.server.main serve`` with its working folder (and so
    its SQLite database) in a temporary folder, its OTLP/HTTP endpoint ``/v1/traces``.
    It answers once the spans are queued and stores them in the background: the time
    until its database holds them all is measured too."""
    with tempfile.TemporaryDirectory(prefix="assay-bench-phoenix-") as tmp:
        port, grpc = free_port(), free_port()
        env = {
            "PHOENIX_WORKING_DIR": tmp,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(grpc),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        args = [python, "-m", "phoenix.server.main", "serve"]
        base = f"http://127.0.0.1:{port}"
        total = sum(len(mine) for mine in bodies) * spans
        db = Path(tmp) / "phoenix.db"
        with (
            _process(args, f"{base}/healthz", env, Path(tmp)) as proc,
            contextlib.ExitStack() as clients,
        ):
            senders = [
                _poster(
                    clients.enter_context(httpx.Client(timeout=600)),
                    f"{base}/v1/traces",
                    PROTOBUF,
                )
                for _ in bodies
            ]
            cpu_before = _tree_cpu(proc.pid)
            started = time.perf_counter()
            elapsed, acks = _ingest(senders, bodies, spans, rate)
            while (stored := _count_rows(db, "spans")) < total:
                if time.perf_counter() - started > elapsed + 600:
                    break
                time.sleep(0.1)
            stored_after = time.perf_counter() - started
            cpu = _tree_cpu(proc.pid) - cpu_before
        assert stored == total, f"Phoenix stored {stored:,} spans of {total:,} acknowledged"
        return Result(
            system="Phoenix",
            spans=total,
            elapsed=elapsed,
            acks=acks,
            cpu=cpu,
            stored_after=stored_after,
        )


def _count_rows(db: Path, table: str) -> int:
    """Rows of ``table`` in a peer's SQLite database, read without writing it."""
    import sqlite3

    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)) as conn:
        try:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def _tree_cpu(pid: int) -> float:
    """CPU time of a process and its children alive now (a server's workers)."""
    total = 0.0
    for child in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            total += _cpu_seconds(child)
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_children(int(child))]
    return found


def _peer_python(given: str | None, module: str) -> str | None:
    """The Python to run a peer with: the one given, else this one if it has ``module``."""
    if given:
        return os.path.abspath(given) if Path(given).exists() else None
    import importlib.util

    return sys.executable if importlib.util.find_spec(module) is not None else None


def measure(
    *,
    exporters: int = 8,
    batches: int = 40,
    spans: int = 512,
    peer_batches: int = 5,
    rate: float | None = None,
    mlflow_python: str | None = None,
    phoenix_python: str | None = None,
    peers: bool = True,
) -> list[Result]:
    """Assay, then each peer that is installed, fed by the same generator (the peers
    fewer batches per exporter: they are slower)."""
    # each exporter its own spans, as separate processes would send: none is a retry
    bodies = [[batch(spans) for _ in range(batches)] for _ in range(exporters)]
    results = [measure_assay(bodies, spans, rate)]
    if not peers:
        return results
    fewer = [mine[:peer_batches] for mine in bodies]
    for name, module, given, run in (
        ("MLflow", "mlflow", mlflow_python, measure_mlflow),
        ("Phoenix", "phoenix", phoenix_python, measure_phoenix),
    ):
        python = _peer_python(given, module)
        if python is None:
            print(f"{name}: skipped (no Python with {module}: pass --{module}-python)")
            continue
        try:
            results.append(run(python, fewer, spans, rate))
        except (RuntimeError, AssertionError, httpx.HTTPError) as exc:
            print(f"{name}: skipped ({exc})")
    return results


def render(results: list[Result], command: str, exporters: int, spans: int) -> list[str]:
    """The traces section's table: spans/s, acknowledgement p50/p99, CPU per span, and
    how many times Assay's spans/s and p99 each peer's are."""
    assay = results[0]
    lines = [
        f"`{command}` (load average {os.getloadavg()[0]:.1f} when it ended, on "
        f"{os.cpu_count()} cores): {exporters} exporters, {spans} spans per request.",
        "",
        "| system | spans | spans/s | ack p50 | ack p99 | server CPU per span "
        "| Assay's spans/s over its | its p99 over Assay's |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cpu = f"{r.cpu / r.spans * 1e6:.1f} µs" if r.cpu else "-"
        faster = f"{assay.rate / r.rate:.1f}x" if r is not assay else "-"
        slower = f"{r.p99 / assay.p99:.1f}x" if r is not assay else "-"
        stored = f" (stored after {r.stored_after:.1f} s)" if r.stored_after else ""
        lines.append(
            f"| {r.system} | {r.spans:,} | {r.rate:,.0f}{stored} | {r.p50 * 1000:.0f} ms | "
            f"{r.p99 * 1000:.0f} ms | {cpu} | {faster} | {slower} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exporters", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40, help="per exporter")
    parser.add_argument("--peer-batches", type=int, default=5, help="per exporter, for peers")
    parser.add_argument("--spans-per-batch", type=int, default=512)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="spans/s offered by all exporters together (default: as fast as answered)",
    )
    parser.add_argument("--mlflow-python", default=None, help="A Python with mlflow.")
    parser.add_argument("--phoenix-python", default=None, help="A Python with arize-phoenix.")
    parser.add_argument("--no-peers", action="store_true", help="Assay alone.")
    parser.add_argument(
        "--direct", action="store_true", help="The store alone, in process (no HTTP)."
    )
    args = parser.parse_args()
    spans = args.spans_per_batch
    if args.direct:
        bodies = [[batch(spans) for _ in range(args.batches)] for _ in range(args.exporters)]
        results = [measure_direct(bodies, spans, args.rate)]
    else:
        results = measure(
            exporters=args.exporters,
            batches=args.batches,
            spans=spans,
            peer_batches=args.peer_batches,
            rate=args.rate,
            mlflow_python=args.mlflow_python,
            phoenix_python=args.phoenix_python,
            peers=not args.no_peers,
        )
    offered = f"offered {args.rate:,.0f} spans/s" if args.rate else "as fast as answered"
    for r in results:
        print(
            f"{r.system}: {r.spans:,} spans in {r.elapsed:.1f} s = {r.rate:,.0f} spans/s "
            f"({args.exporters} exporters, {spans} spans per request, {offered}); "
            f"ack p50 {r.p50 * 1000:.0f} ms, p99 {r.p99 * 1000:.0f} ms"
            + (f"; server CPU {r.cpu / r.spans * 1e6:.1f} us per span" if r.cpu else "")
        )
    print(f"load average {os.getloadavg()}")
    if not args.direct:
        command = "python bench/traces.py " + " ".join(sys.argv[1:])
        print("\n".join(render(results, command.strip(), args.exporters, spans)))


if __name__ == "__main__":
    main()
