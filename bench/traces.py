"""Trace ingest: OTLP/HTTP protobuf batches of GenAI spans into an ``assay server``
process (embedded SQLite) from several concurrent exporters, and reading a 30,000-span
trace back. Assay only: Phoenix and MLflow are not measured here yet.

    python bench/traces.py [--exporters 8] [--batches 40] [--spans-per-batch 512] [--rate N]

Measured: spans/s acknowledged (the server answers only once they are committed; every
exporter sends spans of its own, and the spans stored are counted after), the p50 and
p99 of an export's acknowledgement (all exporters sending as fast as they are answered,
or ``--rate`` spans/s offered in all), the server's CPU time per span (a measure that
holds on a machine others share), and the server time to return one trace of 30,000
spans (GET /api/v1/traces/{id}).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services import free_port
from tests.test_server_e2e import ServerProcess


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
    url: str, bodies: list[list[bytes]], spans: int, rate: float | None
) -> tuple[float, list[float]]:
    """Each exporter posts its requests one after another, at once (``rate`` None) or on a
    schedule that offers ``rate`` spans/s in all (a request due while the previous one
    is unanswered goes as soon as it is answered), ``spans`` in each; the time taken and
    each acknowledgement's, sorted."""
    headers = {"content-type": "application/x-protobuf"}
    acks: list[float] = []
    lock = threading.Lock()
    every = len(bodies) * spans / rate if rate else 0.0  # one exporter's interval
    started = time.perf_counter()

    def exporter(k: int, mine: list[bytes]) -> None:
        due = started + every * k / len(bodies)
        with httpx.Client(timeout=120) as client:
            for body in mine:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                answer = client.post(url, content=body, headers=headers)
                took = time.perf_counter() - sent
                assert answer.status_code == 200, answer.text
                with lock:
                    acks.append(took)
                due += every

    threads = [threading.Thread(target=exporter, args=(k, m)) for k, m in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, sorted(acks)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exporters", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40, help="per exporter")
    parser.add_argument("--spans-per-batch", type=int, default=512)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="spans/s offered by all exporters together (default: as fast as answered)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="assay-bench-traces-")) / "store"
    server = ServerProcess(str(root), port=free_port()).start()
    assert server.proc is not None and server.proc.stderr is not None
    # the server logs each request: read its log as it comes, so the pipe never fills
    drain = server.proc.stderr
    threading.Thread(target=lambda: [None for _ in drain], daemon=True).start()
    url = f"{server.url}/v1/traces"
    # each exporter its own spans, as separate processes would send: none is a retry
    bodies = [
        [batch(args.spans_per_batch) for _ in range(args.batches)] for _ in range(args.exporters)
    ]
    try:
        cpu_before = _cpu_seconds(server.proc.pid)
        elapsed, acks = _ingest(url, bodies, args.spans_per_batch, args.rate)
        cpu = _cpu_seconds(server.proc.pid) - cpu_before
        total = args.exporters * args.batches * args.spans_per_batch
        offered = f"offered {args.rate:,.0f} spans/s" if args.rate else "as fast as answered"
        print(
            f"ingest: {total:,} spans in {elapsed:.1f} s = {total / elapsed:,.0f} spans/s "
            f"({args.exporters} exporters, {args.spans_per_batch} spans per request, {offered})"
        )
        print(
            f"ack p50 {statistics.median(acks) * 1000:.0f} ms, "
            f"p99 {acks[max(0, int(len(acks) * 0.99) - 1)] * 1000:.0f} ms"
        )
        print(
            f"server CPU: {cpu:.1f} s = {cpu / total * 1e6:.1f} us per span "
            f"({total / cpu:,.0f} spans per CPU second)"
        )
        stored = _stored(server.url, "bench")
        assert stored == total, f"{stored:,} spans stored of {total:,} acknowledged"
        headers = {"content-type": "application/x-protobuf"}
        big = os.urandom(16)
        with httpx.Client(timeout=120) as client:
            for _ in range(30_000 // 5_000):
                client.post(
                    url, content=batch(5_000, trace_id=big), headers=headers
                ).raise_for_status()
            started = time.perf_counter()
            read = client.get(f"{server.url}/api/v1/traces/{big.hex()}")
            took = time.perf_counter() - started
            started = time.perf_counter()
            client.get(f"{server.url}/ui/traces/{big.hex()}/spans").raise_for_status()
            tree = time.perf_counter() - started
        read.raise_for_status()
        print(
            f"read one 30,000-span trace: {took * 1000:.0f} ms "
            f"({len(read.content) / 1e6:.1f} MB JSON); the trace page's span tree: "
            f"{tree * 1000:.0f} ms"
        )
    finally:
        server.stop()
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
