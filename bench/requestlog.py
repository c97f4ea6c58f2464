"""The request log: how fast entries are stored and read back as a DataFrame.

One model, entries of eight float inputs and one output (what a tabular model's request
leaves), written as the server's writer writes them (batches of 2,000 through
``store.requests.write_batch``) into a fresh SQLite store, then read back with
``assay.Api().requests``: the whole log, and a tenth of it by time range. Also the cost of
``submit`` on the request path (what a server pays per answered request), and the CPU
a server's log costs per answered request of ``--served-rows`` rows and
``--served-columns`` float columns (cut from one table, as a ``dataframe_split`` body
gives them) and one integer output, from ``record`` on the request path to the row in
the store: ``record`` itself, the writer building and checking the entries, delivering
them to the store, and journaling what the store did not take (nothing, from a healthy
store), run in this thread in cycles of 112 requests (what a
server answering 560 requests/s queues in one 200 ms cycle). Medians of ``--repeats``
fresh runs; no peer does this, so there is no ratio.

    python bench/requestlog.py [--entries 100000] [--repeats 3] [--served-rows 100]
        [--served-columns 20] [--served-only]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import assay
from assay.records import RequestBatch, RequestEntry
from assay.sdk.requestlog import RequestLog
from assay.serving.requestlog import ServedLog
from assay.store.base import open_store

BATCH = 2_000


def entries(n: int, start: float) -> list[list[RequestEntry]]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n, 8)).tolist()
    rows = [
        RequestEntry(
            model="m",
            request_id=f"r{i}",
            time=start + i / 100,
            version="1",
            status=200,
            latency_ms=1.0,
            rows=1,
            inputs={f"f{k}": [v] for k, v in enumerate(features[i])},
            outputs={"p": [0.5]},
        )
        for i in range(n)
    ]
    return [rows[i : i + BATCH] for i in range(0, n, BATCH)]


def one_run(n: int) -> tuple[float, float, float]:
    """(entries stored per second, seconds to read all, seconds to read a tenth)."""
    folder = tempfile.mkdtemp(prefix="assay-bench-requestlog-")
    store = open_store(folder)
    start = time.time() - n / 100 - 60
    batches = entries(n, start)
    t0 = time.perf_counter()
    for seq, part in enumerate(batches):
        store.requests.write_batch(RequestBatch(writer="bench", seq=seq, entries=part))
    t1 = time.perf_counter()
    with assay.Api(store=store) as api:
        everything = api.requests("m")
        t2 = time.perf_counter()
        tenth = api.requests("m", since=start + n / 1000 * 4, until=start + n / 1000 * 5)
        t3 = time.perf_counter()
    assert len(everything) == n and len(tenth) == n // 10
    return n / (t1 - t0), t2 - t1, t3 - t2


def submit_cost(n: int) -> float:
    """Microseconds per ``submit`` of a one-row request (the server's request path)."""
    folder = tempfile.mkdtemp(prefix="assay-bench-requestlog-")
    writer = RequestLog(folder, max_queued=n + 1)  # not started: only the enqueue is timed
    build = list  # never called here
    t0 = time.perf_counter()
    for _ in range(n):
        writer.submit(1, build)
    seconds = time.perf_counter() - t0
    writer.journal.close()
    return seconds / n * 1e6


CYCLE = 112  # requests a server answering 560 requests/s queues in one 200 ms cycle


def served_cost(requests: int, rows: int, width: int) -> tuple[float, float, float, float, int]:
    """CPU microseconds per answered request of ``rows`` rows and ``width`` columns
    (``ServedLog.record``; the writer building and checking the entries; delivering them
    to a fresh SQLite store; journaling what it did not take) and the request_log rows
    stored."""
    folder = Path(tempfile.mkdtemp(prefix="assay-bench-requestlog-"))
    store = open_store(folder / "store")
    rng = np.random.default_rng(0)
    table = rng.normal(size=(rows, width))
    columns = {f"f{k}": table[:, k] for k in range(width)}
    answers = {"predict": rng.integers(0, 2, size=rows)}
    served = ServedLog.__new__(ServedLog)  # its writer not started: the cycle runs here
    served.sample = 1.0
    writer = served.writer = RequestLog(
        str(folder / "store"), folder=folder / "journal", interval=3600, connect=lambda: store
    )
    spent = [0.0, 0.0, 0.0, 0.0]
    for start in range(0, requests, CYCLE):
        t0 = time.process_time()
        for i in range(start, min(requests, start + CYCLE)):
            served.record(
                "m",
                "1",
                status=200,
                seconds=0.001,
                request_id=f"q{i}",
                rows=columns,
                count=rows,
                outputs=answers,
            )
        t1 = time.process_time()
        writer._cut()
        t2 = time.process_time()
        writer._deliver()
        t3 = time.process_time()
        writer._spool()
        t4 = time.process_time()
        for k, seconds in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            spent[k] += seconds
    stored = len(store.requests.list("m"))
    writer.journal.close()
    store.close()
    record, build, deliver, journal = (seconds / requests * 1e6 for seconds in spent)
    return record, build, deliver, journal, stored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--served-rows", type=int, default=100)
    parser.add_argument("--served-columns", type=int, default=20)
    parser.add_argument("--served-only", action="store_true", help="only a server's log cost")
    args = parser.parse_args()
    if not args.served_only:
        runs = [one_run(args.entries) for _ in range(args.repeats)]
        rate, read_all, read_tenth = (
            statistics.median(column) for column in zip(*runs, strict=True)
        )
        print(
            f"request log, {args.entries:,} entries of 8 inputs, SQLite, median of {args.repeats}:"
        )
        print(f"  stored:               {rate:,.0f} entries/s")
        print(f"  read all (DataFrame): {read_all:.2f} s")
        print(f"  read a tenth by time: {read_tenth:.2f} s")
        print(f"  submit() per request: {submit_cost(100_000):.2f} µs")
    costs = [served_cost(2_240, args.served_rows, args.served_columns) for _ in range(args.repeats)]
    record, build, deliver, journal = (statistics.median(c[k] for c in costs) for k in range(4))
    print(
        f"  a server's log, per {args.served_rows}-row request of {args.served_columns} columns: "
        f"{record + build + deliver + journal:,.0f} µs CPU (record {record:,.1f}, build and "
        f"check {build:,.1f}, store {deliver:,.1f}, journal {journal:,.1f}; {costs[0][4]:,} "
        "request_log entries for 2,240 requests)"
    )


if __name__ == "__main__":
    main()
