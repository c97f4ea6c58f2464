"""Model serving: one scikit-learn pipeline served by ``assay serve``, by ``mlflow models
serve --env-manager local`` and by BentoML (``bentoml serve``, adaptive batching on).

    python bench/serving.py [--quick] [--mlflow-python PATH] [--bentoml-python PATH]
                            [--results bench/RESULTS.md] [--no-peers]

Same model (StandardScaler + LogisticRegression on 20 numeric columns, fitted on a
DataFrame), same body (MLflow's ``dataframe_split``, which both servers take), one worker
each; the server is pinned to core 0 and the load generator to core 1 (taskset) when the
machine has two cores. The load generator is a closed loop of N connections (1, 8, 32),
each sending its next request when the previous answer arrived, to 127.0.0.1 only, for a
fixed time and at most a fixed number of requests. Each figure is the median of fresh
load runs against one server; where Assay's time goes comes from its own /metrics.

``--mlflow-python`` names an interpreter with mlflow and scikit-learn (mlflow's pins
would move packages of this environment); without one, and without mlflow here, MLflow is
left out with a message. ``--bentoml-python`` likewise names an interpreter with bentoml,
scikit-learn and pandas (``make bench`` makes one, .venv-bentoml: installing bentoml beside
mlflow moves opentelemetry-api); its service is BENTO_SERVICE below: one ``@bentoml.api(batchable
=True)`` method taking the rows as one ``[n, 20]`` array, so BentoML's adaptive batching
joins concurrent requests into one predict call, at most 1024 rows (as Assay's).
``--no-peers`` measures Assay alone (with and without its request log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from tests.services import free_port, stop  # noqa: E402 (the repository root is on the path first)

FEATURES = [f"f{i}" for i in range(20)]
HOST = "127.0.0.1"  # the only address the load generator sends to
# rows per predict call are chosen by the batcher within this (100-row requests would be
# cut in two calls each at the default of 64)
ASSAY_OPTIONS = "--max-batch-size 1024"
BENTOML_SKIPPED = (
    "BentoML left out: no interpreter with bentoml (--bentoml-python; `make bench` makes "
    ".venv-bentoml, apart, since installing it beside mlflow would move opentelemetry-api)"
)


@dataclass
class Result:
    server: str
    clients: int
    rows: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    mean_ms: float = 0.0


# ---- the model --------------------------------------------------------------------------------

TRAIN = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
rng = np.random.default_rng(0)
x = pd.DataFrame(rng.normal(size=(5000, 20)), columns=[f"f{i}" for i in range(20)])
y = (x.f0 + x.f1 - x.f2 > 0).astype(int)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
"""


def assay_model(work: Path) -> str:
    """The pipeline logged and registered in an Assay store; the store's path."""
    import assay
    from assay.sdk.settings import Settings

    namespace: dict[str, Any] = {}
    exec(TRAIN, namespace)
    uri = str(work / "assay-store")
    quiet = Settings(
        capture_git=False,
        capture_packages=False,
        capture_console=False,
        system_metrics_interval=0,
        handle_signals=False,
    )
    example = {"input_example": namespace["x"].head(2).to_dict(orient="list")}
    with assay.init(project="bench", uri=uri, settings=quiet) as run:
        run.log_model(namespace["model"], "bench-model", metadata=example)
    mv = assay.register_model("bench/bench-model:latest", name="bench", uri=uri)
    assay.models.set_alias("bench", "production", mv.version, uri=uri)
    # a second version (the same pipeline, less regularised) for the alias move under load
    namespace["model"].set_params(logisticregression__C=0.5).fit(namespace["x"], namespace["y"])
    with assay.init(project="bench", uri=uri, settings=quiet) as run:
        run.log_model(namespace["model"], "bench-model", metadata=example)
    assay.register_model("bench/bench-model:latest", name="bench", uri=uri)
    return uri


def mlflow_model(python: str, work: Path) -> Path:
    target = work / "mlflow-model"
    code = TRAIN + f"import mlflow.sklearn\nmlflow.sklearn.save_model(model, {str(target)!r})\n"
    subprocess.run([python, "-c", code], check=True, capture_output=True, timeout=600)
    return target


BENTO_SERVICE = """
import joblib
import numpy as np
import pandas as pd
import bentoml

FEATURES = [f"f{i}" for i in range(20)]


@bentoml.service(
    workers=1, traffic={"timeout": 60}, logging={"access": {"enabled": False}}  # as Assay's
)
class Bench:
    def __init__(self) -> None:
        self.model = joblib.load("model.joblib")

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=1024)
    def predict(self, data: np.ndarray) -> np.ndarray:
        return self.model.predict(pd.DataFrame(data, columns=FEATURES))
"""


def bentoml_service(python: str, work: Path) -> Path:
    """A folder with the service and the pipeline (fitted by that interpreter's sklearn)."""
    folder = work / "bento"
    folder.mkdir()
    (folder / "service.py").write_text(BENTO_SERVICE)
    code = TRAIN + f"import joblib\njoblib.dump(model, {str(folder / 'model.joblib')!r})\n"
    subprocess.run([python, "-c", code], check=True, capture_output=True, timeout=600)
    return folder


# ---- servers ----------------------------------------------------------------------------------


def assay_serve(uri: str, port: int, extra: str = "") -> list[str]:
    """The command of one Assay worker serving ``bench@production`` from ``uri``."""
    serve = f"serve models:/bench@production --port {port} --workers 1 {ASSAY_OPTIONS} {extra}"
    return [sys.executable, "-m", "assay", *serve.split(), "--uri", uri]


def pinned(command: list[str], core: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core), *command]
    return command


@contextmanager
def running(
    command: list[str], port: int, ready: str, log: Path, cwd: Path | None = None
) -> Iterator[int]:
    """The server started (pinned to core 0) and ready; yields its process id (taskset
    executes the command in its own process)."""
    # the interpreter's own bin folder first: mlflow starts `uvicorn` from PATH
    path = f"{Path(command[0]).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": path}
    with open(log, "wb") as out:
        proc = subprocess.Popen(pinned(command, 0), stdout=out, stderr=out, env=env, cwd=cwd)
    try:
        _wait(proc, port, ready, log)
        yield proc.pid
    finally:
        stop(proc)


def _wait(proc: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            status, _ = asyncio.run(_get(port, path))
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready in 180 s:\n{log.read_text()[-3000:]}")


# ---- the load generator -----------------------------------------------------------------------


def request_bytes(port: int, rows: int, protocol: str = "mlflow") -> bytes:
    """MLflow's dataframe_split to /invocations; or the same rows as an Open Inference
    Protocol request (one [rows, 20] tensor) to Assay's /v2/models/bench/infer; or as
    BentoML's ``{"data": [[...]]}`` to its /predict."""
    import numpy as np

    data = np.random.default_rng(1).normal(size=(rows, 20)).round(6).tolist()
    path = "/invocations"
    payload: dict[str, Any] = {"dataframe_split": {"columns": FEATURES, "data": data}}
    if protocol == "oip":
        path = "/v2/models/bench/infer"
        tensor = {"name": "input-0", "shape": [rows, 20], "datatype": "FP64", "data": data}
        payload = {"inputs": [tensor]}
    elif protocol == "bentoml":
        path, payload = "/predict", {"data": data}
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    found = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if found:
        return status, await reader.readexactly(int(found[1]))
    body = b""  # chunked
    while True:
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        return await asyncio.wait_for(_read_response(reader), 10)
    finally:
        writer.close()


async def _client(
    port: int,
    payload: bytes,
    stop: float,
    cap: int,
    out: list[float],
    *,
    errors: list[float],
    warm_until: float,
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for _ in range(cap):
            began = time.perf_counter()
            if began >= stop:
                return
            writer.write(payload)
            status, _ = await asyncio.wait_for(_read_response(reader), 30)
            if began >= warm_until:
                (out if status == 200 else errors).append(time.perf_counter() - began)
    finally:
        writer.close()


async def _load(
    port: int, rows: int, clients: int, seconds: float, protocol: str = "mlflow"
) -> Result:
    payload = request_bytes(port, rows, protocol)
    latencies: list[float] = []
    errors: list[float] = []
    start = time.perf_counter()
    warm_until, stop = start + 0.5, start + 0.5 + seconds
    cap = 200_000  # requests per connection, whatever the time
    await asyncio.gather(
        *(
            _client(
                port=port,
                payload=payload,
                stop=stop,
                cap=cap,
                out=latencies,
                errors=errors,
                warm_until=warm_until,
            )
            for _ in range(clients)
        )
    )
    latencies.sort()
    n = len(latencies)
    return Result(
        "",
        clients,
        rows,
        n / seconds,
        1000 * latencies[n // 2],
        1000 * latencies[min(n - 1, int(n * 0.99))],
        len(errors),
        1000 * sum(latencies) / max(n, 1),
    )


def load_run(port: int, rows: int, clients: int, seconds: float, protocol: str) -> Result:
    """One closed-loop run in a fresh process pinned to core 1 (prints JSON)."""
    code = (
        f"import sys, json, asyncio, dataclasses; sys.path.insert(0, {str(HERE)!r}); "
        "import serving; "
        f"r = asyncio.run(serving._load({port}, {rows}, {clients}, {seconds}, {protocol!r})); "
        "print(json.dumps(dataclasses.asdict(r)))"
    )
    out = subprocess.run(
        pinned([sys.executable, "-c", code], 1),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return Result(**json.loads(out.stdout.strip().splitlines()[-1]))


def measure_server(
    name: str, port: int, quick: bool, runs: int, top_only: bool = False
) -> list[Result]:
    """Every case of rows x clients (only 32 clients with ``top_only``), the median of
    ``runs`` fresh load runs each."""
    seconds = 1.5 if quick else 4.0
    plain = "bentoml" if name == "bentoml" else "mlflow"  # BentoML has its own body
    concurrency = (32,) if top_only else (1, 8, 32)
    cases = [(rows, clients, plain) for rows in (1, 100) for clients in concurrency]
    if name == "assay":  # its own protocol too, at the top concurrency
        cases += [(1, 32, "oip"), (100, 32, "oip")]
    results = []
    for rows, clients, protocol in cases:
        fresh = [load_run(port, rows, clients, seconds, protocol) for _ in range(runs)]
        median = sorted(fresh, key=lambda r: r.rps)[len(fresh) // 2]
        median.server = f"{name} (OIP)" if protocol == "oip" else name
        results.append(median)
        print(median, flush=True)
    return results


# ---- an alias move under load ----------------------------------------------------------------


async def _answered_by(
    port: int, payload: bytes, stop: float, seen: dict[str, Any], versions: re.Pattern[bytes]
) -> None:
    """One closed-loop connection counting answers per model version; an error status or
    a broken connection counts as a failed request (and the connection is opened again)."""
    while time.perf_counter() < stop:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            seen["failed"] += 1
            await asyncio.sleep(0.01)
            continue
        try:
            while time.perf_counter() < stop:
                writer.write(payload)
                status, body = await asyncio.wait_for(_read_response(reader), 30)
                found = versions.search(body)
                if status != 200 or found is None:
                    seen["failed"] += 1
                    continue
                version = found[1].decode()
                seen["versions"][version] = seen["versions"].get(version, 0) + 1
                seen["first"].setdefault(version, time.time())
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            seen["failed"] += 1
        finally:
            writer.close()


async def _move_load(port: int, clients: int, seconds: float) -> dict[str, Any]:
    payload = request_bytes(port, 1, "oip")
    seen: dict[str, Any] = {"failed": 0, "versions": {}, "first": {}}
    versions = re.compile(rb'"model_version":"([^"]*)"')
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        *(_answered_by(port, payload, stop, seen, versions) for _ in range(clients))
    )
    return seen


def alias_move(uri: str, port: int, clients: int = 32, seconds: float = 6.0) -> dict[str, Any]:
    """``clients`` connections of single-row OIP requests for ``seconds``; a third of the
    way in, ``bench@production`` moves to version 2 (from this process, as the CLI would).
    Answers per version, failed requests, and how long after the move version 2 first
    answered (the server polls the store every second)."""
    import assay

    code = (
        f"import sys, json, asyncio; sys.path.insert(0, {str(HERE)!r}); import serving; "
        f"print(json.dumps(asyncio.run(serving._move_load({port}, {clients}, {seconds}))))"
    )
    load = subprocess.Popen(
        pinned([sys.executable, "-c", code], 1), stdout=subprocess.PIPE, text=True
    )
    time.sleep(seconds / 3)
    moved_at = time.time()
    assay.models.set_alias("bench", "production", 2, reason="bench: move under load", uri=uri)
    out, _ = load.communicate(timeout=seconds + 120)
    seen: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    first = seen.pop("first").get("2")
    seen["visible_after_s"] = None if first is None else max(0.0, first - moved_at)
    seen["clients"] = clients
    return seen


# ---- where Assay's time goes ------------------------------------------------------------------


def stages(port: int) -> dict[str, float]:
    """Mean milliseconds per request (per call for predict) and mean rows per call."""
    _, body = asyncio.run(_get(port, "/metrics"))
    text = body.decode()

    def total(metric: str, stage: str | None = None) -> float:
        label = f'stage="{stage}"' if stage else 'model="bench"'
        pattern = rf"^{metric}\{{[^}}]*{label}[^}}]*\}} (\S+)$"
        return sum(float(v) for v in re.findall(pattern, text, re.M))

    out = {}
    for stage in ("parse", "queue", "predict", "encode"):
        count = total("assay_serving_stage_seconds_count", stage)
        out[stage] = 1000 * total("assay_serving_stage_seconds_sum", stage) / max(count, 1)
    calls = total("assay_serving_batch_rows_count")
    out["rows per call"] = total("assay_serving_batch_rows_sum") / max(calls, 1)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the process has used, from /proc: per
    request, it is what contention on a shared machine changes least."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stages_raw(port: int) -> dict[str, float]:
    """The server's cumulative stage sums and counts, to take differences of."""
    _, body = asyncio.run(_get(port, "/metrics"))
    text = body.decode()
    out: dict[str, float] = {}
    for stage in ("parse", "queue", "predict", "encode"):
        for part in ("sum", "count"):
            pattern = (
                rf'^assay_serving_stage_seconds_{part}\{{[^}}]*stage="{stage}"[^}}]*\}} (\S+)$'
            )
            out[f"{stage}_{part}"] = sum(float(v) for v in re.findall(pattern, text, re.M))
    for part in ("sum", "count"):
        pattern = rf"^assay_serving_batch_rows_{part}\{{[^}}]*\}} (\S+)$"
        out[f"rows_{part}"] = sum(float(v) for v in re.findall(pattern, text, re.M))
    return out


def per_request(before: dict[str, float], after: dict[str, float], run: Result) -> dict[str, float]:
    """Milliseconds per request of each stage over one load run (predict: the call's time
    shared among the requests it answered), and what is left of the mean latency: HTTP,
    the event loop, and waiting for the one core."""
    d = {k: after[k] - before[k] for k in after}
    requests = max(d["parse_count"], 1)
    out = {s: 1000 * d[f"{s}_sum"] / requests for s in ("parse", "queue", "encode")}
    # each request waits for the whole call that predicts it
    out["predict"] = 1000 * d["predict_sum"] / max(d["predict_count"], 1)
    out["rows per call"] = d["rows_sum"] / max(d["rows_count"], 1)
    out["calls"] = d["predict_count"]
    out["requests"] = d["parse_count"]
    out["requests/s"] = run.rps
    out["mean ms"] = run.mean_ms
    out["other"] = max(
        0.0, run.mean_ms - sum(out[s] for s in ("parse", "queue", "predict", "encode"))
    )
    return out


# ---- all of it --------------------------------------------------------------------------------


def measure(
    quick: bool = False,
    mlflow_python: str | None = None,
    runs: int = 3,
    bentoml_python: str | None = None,
    peers: bool = True,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="assay-bench-serving-"))
    results: list[Result] = []
    notes = []
    loads = [os.getloadavg()[0]]
    try:
        uri = assay_model(work)
        port = free_port()
        command = assay_serve(uri, port)
        with running(command, port, "/v2/health/ready", work / "assay.log") as pid:
            results += measure_server("assay", port, quick, runs)
            where = stages(port)
            # where the time goes at 32 clients alone: one more run, measured by difference
            before, cpu = stages_raw(port), cpu_seconds(pid)
            at32 = load_run(port, 1, 32, 1.5 if quick else 4.0, "mlflow")
            where32 = per_request(before, stages_raw(port), at32)
            where32["cpu ms"] = 1000 * (cpu_seconds(pid) - cpu) / max(where32["requests"], 1)
            move = alias_move(uri, port, seconds=4.0 if quick else 8.0)
        # the same server writing no request log: what logging every request costs
        port = free_port()
        command = assay_serve(uri, port, "--log-sample 0")
        with running(command, port, "/v2/health/ready", work / "assay-nolog.log"):
            results += measure_server(NO_LOG, port, quick, runs, top_only=True)
        python = mlflow_python or (sys.executable if _has_mlflow() else None)
        if not peers:
            notes.append("MLflow and BentoML left out (--no-peers)")
        elif python is None:
            notes.append("MLflow left out: no interpreter with mlflow (--mlflow-python)")
        else:
            model = mlflow_model(python, work)
            port = free_port()
            mlflow = [
                python,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                str(model),
                "--env-manager",
                "local",
                "-h",
                HOST,
                "-p",
                str(port),
                "-w",
                "1",
            ]
            with running(mlflow, port, "/ping", work / "mlflow.log"):
                results += measure_server("mlflow", port, quick, runs)
        if peers and bentoml_python is None:
            notes.append(BENTOML_SKIPPED)
        elif peers and bentoml_python is not None:
            results += measure_bentoml(bentoml_python, work, quick, runs)
            notes.append(f"BentoML {_version(bentoml_python, 'bentoml')}: {BENTOML_NOTE}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loads.append(os.getloadavg()[0])
    notes.append(
        "Load average of the machine (1 min): {:.1f} at the start, {:.1f} at the end.".format(
            *loads
        )
    )
    return {
        "results": results,
        "stages": where,
        "stages32": where32,
        "move": move,
        "notes": notes,
    }


NO_LOG = "assay, no request log"
BENTOML_NOTE = (
    "`bentoml serve` of a service with one `@bentoml.api(batchable=True, max_batch_size="
    "1024)` method (BENTO_SERVICE in bench/serving.py), one worker, its body "
    '`{"data": [[...20 numbers], ...]}` to `/predict` (the same rows).'
)


def measure_bentoml(python: str, work: Path, quick: bool, runs: int) -> list[Result]:
    python = str(Path(python).absolute())  # the server runs in the service's folder
    folder = bentoml_service(python, work)
    port = free_port()
    command = [python, "-m", "bentoml", "serve", "service:Bench", "--host", HOST]
    command += ["--port", str(port)]
    with running(command, port, "/readyz", work / "bentoml.log", cwd=folder):
        return measure_server("bentoml", port, quick, runs)


def _version(python: str, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "?"


def _has_mlflow() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None


def render(measured: dict[str, Any], command: str) -> list[str]:
    results: list[Result] = measured["results"]
    lines = [
        "## Model serving",
        "",
        f"Produced by `{command}`. One scikit-learn pipeline (StandardScaler + "
        "LogisticRegression, 20 numeric columns, fitted on a DataFrame); the same "
        "`dataframe_split` body to `/invocations` (BentoML: the same rows to its `/predict`); "
        "one worker each; server on core 0, load "
        "generator on core 1 (taskset); closed loop of N connections; median of fresh load "
        "runs. How busy the machine was shows in its load average, at the end.",
        "",
        "| server | clients | rows/request | requests/s | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.server} | {r.clients} | {r.rows} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.errors} |"
        )
    lines += [
        "",
        f"'{NO_LOG}' is the same server with `--log-sample 0`. By default Assay writes every "
        "request to its request log, one entry per request (a 100-row request is one entry "
        "holding its inputs and outputs as columns), from a thread of the same process on "
        "the same core; MLflow and BentoML keep no such log.",
        "",
        *_against_targets(results),
        "",
    ]
    where = measured["stages"]
    lines.append(
        "Where Assay's time goes (its /metrics over the whole run, mean per request; predict "
        f"per call): parse {where['parse']:.3f} ms, queue {where['queue']:.3f} ms, predict "
        f"{where['predict']:.3f} ms per call of {where['rows per call']:.1f} rows on average, "
        f"encode {where['encode']:.3f} ms."
    )
    at = measured["stages32"]
    lines += [
        "",
        "At 32 clients with single rows alone (one more run, `/invocations`, "
        f"{at['requests/s']:,.0f} requests/s, mean latency {at['mean ms']:.2f} ms), a request's "
        f"time: parse {at['parse']:.3f} ms, queue {at['queue']:.3f} ms, predict "
        f"{at['predict']:.3f} ms (the call it is part of, {at['rows per call']:.1f} rows on "
        f"average), encode {at['encode']:.3f} ms, and the rest, {at['other']:.3f} ms: HTTP "
        "parsing and writing in uvicorn, the event loop, the request-log thread and waiting "
        "for the one core the server is pinned to.",
        "",
        f"The server used {at['cpu ms']:.3f} ms of CPU per request in that run (every "
        "thread: event loop, predict, request log): the limit of one core of this machine is "
        f"about {1000 / max(at['cpu ms'], 1e-9):,.0f} single-row requests/s, whatever else "
        "runs on it.",
    ]
    move = measured["move"]
    seen = ", ".join(f"version {v}: {n:,}" for v, n in sorted(move["versions"].items()))
    after = move["visible_after_s"]
    shown = "never" if after is None else f"{after:.2f} s after the move"
    verdict = "met" if move["failed"] == 0 and after is not None else "MISSED"
    lines += [
        "",
        f"Alias move under load: {move['clients']} clients of single-row OIP requests, "
        f"`bench@production` moved from version 1 to 2 a third of the way in: {seen}; "
        f"**{move['failed']} failed requests** (target 0: {verdict}); version 2 answered "
        f"first {shown}.",
    ]
    lines += ["", *(f"- {note}" for note in measured["notes"])]
    return lines


def _against_targets(results: list[Result]) -> list[str]:
    def get(server: str, rows: int) -> Result | None:
        return next(
            (r for r in results if r.server == server and r.clients == 32 and r.rows == rows), None
        )

    out = []
    for rows in (1, 100):
        mine = get("assay", rows)
        if mine is None:
            continue
        for peer, label, target in (("mlflow", "MLflow", 5.0), ("bentoml", "BentoML", 1.5)):
            theirs = get(peer, rows)
            if theirs is not None and theirs.rps:
                factor = mine.rps / theirs.rps
                out.append(
                    f"- 32 clients, {rows} row(s): Assay {factor:,.1f}x {label}'s requests/s "
                    f"(target ≥ {target:g}x: {'met' if factor >= target else 'MISSED'})"
                )
        out.append(
            f"- 32 clients, {rows} row(s): Assay p99 {mine.p99_ms:.1f} ms "
            f"(target ≤ 25 ms: {'met' if mine.p99_ms <= 25 else 'MISSED'})"
        )
        quiet, mlflow = get(NO_LOG, rows), get("mlflow", rows)
        if quiet is not None and mlflow is not None and mlflow.rps:
            out.append(
                f"- 32 clients, {rows} row(s), Assay without its request log (as the peers "
                f"run): {quiet.rps / mlflow.rps:,.1f}x MLflow's requests/s, p99 "
                f"{quiet.p99_ms:.1f} ms"
            )
    return out


def write_section(path: Path, lines: list[str]) -> None:
    """Replace (or add) the Model serving section of RESULTS.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = "\n".join(lines) + "\n"
    found = re.search(r"^## Model serving\n.*?(?=^## |\Z)", text, re.M | re.S)
    text = (
        text[: found.start()] + section + "\n" + text[found.end() :]
        if found
        else (text.rstrip("\n") + "\n\n" + section)
    )
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mlflow-python", default=None)
    parser.add_argument("--bentoml-python", default=None)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--no-peers", action="store_true", help="Assay alone")
    args = parser.parse_args()
    measured = measure(
        args.quick, args.mlflow_python, args.runs, args.bentoml_python, not args.no_peers
    )
    command = "python bench/serving.py" + (" --quick" if args.quick else "")
    if args.no_peers:
        command += " --no-peers"
    if args.mlflow_python:
        command += " --mlflow-python PATH"
    if args.bentoml_python:
        command += " --bentoml-python .venv-bentoml/bin/python"
    lines = render(measured, command)
    print("\n".join(lines))
    if args.results is not None:
        write_section(args.results, lines)


if __name__ == "__main__":
    main()
