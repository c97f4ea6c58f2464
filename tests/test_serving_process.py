"""Real ``assay serve`` processes on loopback ports: an alias moved under a running load
loop (zero failed requests, the new version answering), and overload answered with 503
and Retry-After. Every loop is bounded in count and time; assertions are on versions and
statuses, never on how long something took."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import assay
from assay.serving.traffic import place
from tests.test_serving import (
    COLUMNS,
    PICKY_META,
    Picky,
    log_and_register,
    oip_columns,
    pipeline,
    table,
)
from tests.test_serving_traffic import Constant, constant_meta, three_versions

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(uri: str, model: str, *options: str) -> Iterator[str]:
    """``assay serve`` in a child process; yields its base URL once /v2/health/ready."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "assay", "serve", model, "--uri", uri, "--port", str(port)]
    log = Path(uri).with_name(f"serve-{port}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([*command, *options], env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    for _ in range(600):  # at most a minute
        if proc.poll() is not None:
            raise AssertionError(f"assay serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("assay serve did not get ready within a minute")


def test_an_alias_move_under_load_fails_no_request(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    x, _ = table()
    log_and_register(
        uri, pipeline(), "clf", metadata={"input_example": x.head(2).to_dict(orient="list")}
    )
    v2 = log_and_register(uri, pipeline(seed=1), "clf", alias=None)
    body = oip_columns(x.head(3))
    seen: list[str] = []
    failures: list[Any] = []
    moved = threading.Event()

    def load_loop(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(20_000):  # bounded; stops once v2 answered 40 times running
                try:
                    r = client.post("/v2/models/clf/infer", json=body)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    failures.append((r.status_code, r.text))
                    continue
                seen.append(r.json()["model_version"])
                if len(seen) >= 20:
                    moved.wait(timeout=120)
                if seen[-40:] == ["2"] * 40:
                    return

    with serving(uri, "models:/clf@production", "--workers", "2") as base:
        loops = [threading.Thread(target=load_loop, args=(base,)) for _ in range(3)]
        for loop in loops:
            loop.start()
        for _ in range(600):
            if len(seen) >= 20:
                break
            time.sleep(0.1)
        assay.models.set_alias("clf", "production", v2, reason="better", uri=uri)
        moved.set()
        for loop in loops:
            loop.join(timeout=300)
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert failures == []
    assert seen[0] == "1" and seen[-40:] == ["2"] * 40
    assert 'assay_serving_swaps_total{model="clf"}' in metrics
    # both workers' counts, added up (prometheus-client's multiprocess mode)
    answered = re.findall(
        r'^assay_serving_requests_total\{.*status="200".*\} (\S+)$', metrics, re.M
    )
    assert sum(float(n) for n in answered) == len(seen)


def test_overload_answers_503_with_retry_after(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    log_and_register(uri, Picky(delay=0.05), "slow", flavour="python", metadata=PICKY_META)
    statuses: list[int] = []
    retry_after: list[str | None] = []
    problems: list[str] = []
    start = threading.Barrier(40)

    def call(base: str, i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            start.wait(timeout=60)
            body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [i]}]}
            r = client.post("/v2/models/slow/infer", json=body)
            statuses.append(r.status_code)
            if r.status_code == 503:
                retry_after.append(r.headers.get("retry-after"))
                if "overloaded" not in r.json()["error"]:
                    problems.append(r.text)
            elif r.json()["outputs"][0]["data"] != [2.0 * i]:
                problems.append(r.text)

    options = ("--max-batch-size", "1", "--max-queue-ms", "100")
    with serving(uri, "models:/slow@production", *options) as base:
        threads = [threading.Thread(target=call, args=(base, i)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert problems == []
    assert len(statuses) == 40 and set(statuses) == {200, 503}
    assert all(value is not None and int(value) >= 1 for value in retry_after)


def test_serve_refuses_a_model_uri_that_names_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    log_and_register(uri, pipeline(), "clf")
    out = subprocess.run(
        [sys.executable, "-m", "assay", "serve", "models:/nope@production", "--uri", uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "nope" in out.stderr
    assert COLUMNS  # the shared helpers are importable from the server's side too


# ---- traffic policies ------------------------------------------------------------------------


def _value(metrics: str, series: str) -> float:
    found = [line for line in metrics.splitlines() if line.startswith(series + " ")]
    return float(found[0].split()[-1]) if found else 0.0


def _log_of(uri: str, base: str) -> str:
    return Path(uri).with_name(f"serve-{base.rsplit(':', 1)[1]}.log").read_text()


def test_a_split_and_sticky_keys_hold_across_workers(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    three_versions(uri)
    assay.models.set_traffic(
        "clf", {"production": 70, "candidate": 30}, sticky="header:x-user-id", uri=uri
    )
    x, _ = table()
    body = oip_columns(x.head(1))
    arms: list[str] = []
    keyed: dict[str, set[str]] = {}
    with (
        serving(uri, "models:/clf@production", "--workers", "2") as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for _ in range(600):
            r = client.post("/v2/models/clf/infer", json=body)
            assert r.status_code == 200, r.text
            arms.append(r.headers["x-assay-arm"])
        for k in range(40):
            for _ in range(4):  # a fresh connection each: any worker may answer
                r = httpx.post(
                    f"{base}/v2/models/clf/infer", json=body, headers={"x-user-id": f"u{k}"}
                )
                keyed.setdefault(f"u{k}", set()).add(r.json()["parameters"]["arm"])
        metrics = client.get("/metrics").text
    log = _log_of(uri, base)
    # binomial(600, 0.3): sd 11.2; five of them either way
    assert abs(arms.count("candidate") - 180) < 5 * 11.2
    assert set(arms) == {"production", "candidate"}
    for key, seen in keyed.items():  # production first (70), then candidate
        assert seen == {"production" if place("clf", key) < 70 else "candidate"}
    counted = _value(
        metrics,
        'assay_serving_requests_total{arm="candidate",model="clf",status="200",version="2"}',
    )
    keyed_candidates = sum(4 for seen in keyed.values() if seen == {"candidate"})
    assert counted == arms.count("candidate") + keyed_candidates
    assert "traffic production v1 70%, candidate v2 30%; sticky header:x-user-id" in log
    assert "served in all: clf: candidate v2" in log


def test_a_slow_or_failing_shadow_leaves_the_answers_alone(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    three_versions(uri)
    meta = constant_meta()
    slow = log_and_register(
        uri, Constant(1.0, delay=3.0), "clf", "slow", flavour="python", metadata=meta
    )
    assert slow == 4
    assay.models.set_traffic("clf", {"production": 100}, shadow={"slow": 100, "3": 100}, uri=uri)
    x, _ = table()
    expected = pipeline().predict(x.head(3)).tolist()
    slow_ok = 'assay_serving_shadow_requests_total{arm="slow",model="clf",status="200",version="4"}'
    failed = 'assay_serving_shadow_requests_total{arm="3",model="clf",status="400",version="3"}'
    with (
        serving(uri, "models:/clf@production") as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for _ in range(20):
            r = client.post("/v2/models/clf/infer", json=oip_columns(x.head(3)))
            assert r.status_code == 200 and r.json()["outputs"][0]["data"] == expected
            assert r.headers["x-assay-arm"] == "production"
        at_last_answer = client.get("/metrics").text
        for _ in range(600):  # at most a minute for every copy to be counted
            metrics = client.get("/metrics").text
            slow_total = sum(
                _value(metrics, slow_ok.replace('status="200"', f'status="{s}"'))
                for s in (200, 503)
            )
            if slow_total == 20 and _value(metrics, failed) == 20:
                break
            time.sleep(0.1)
    # the 20 answers came while the slow shadow was still on its first copies
    assert _value(at_last_answer, slow_ok) < 20
    assert slow_total == 20 and _value(metrics, slow_ok) >= 1
    assert _value(metrics, failed) == 20
    assert "shadow arm 3 (version 3) failed" in _log_of(uri, base)


def test_a_policy_edit_under_load_fails_no_request(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    three_versions(uri)
    body = oip_columns(table()[0].head(2))
    seen: list[str] = []
    failures: list[Any] = []
    phase = {"edited": threading.Event(), "cleared": threading.Event()}

    def load_loop(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(20_000):  # bounded; stops once production answered 40 running
                try:
                    r = client.post("/v2/models/clf/infer", json=body)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    failures.append((r.status_code, r.text))
                    continue
                seen.append(r.headers["x-assay-arm"])
                if phase["cleared"].is_set() and seen[-40:] == ["production"] * 40:
                    return

    with serving(uri, "models:/clf@production", "--workers", "2") as base:
        loops = [threading.Thread(target=load_loop, args=(base,)) for _ in range(3)]
        for loop in loops:
            loop.start()
        for step, policy in (("edited", {"production": 50, "candidate": 50}), ("cleared", None)):
            for _ in range(600):
                if len(seen) >= 30:
                    break
                time.sleep(0.1)
            if policy is None:
                for _ in range(600):  # wait for the candidate to answer before clearing
                    if seen.count("candidate") >= 20:
                        break
                    time.sleep(0.1)
                assay.models.clear_traffic("clf", reason="done", uri=uri)
            else:
                assay.models.set_traffic("clf", policy, reason="canary", uri=uri)
            phase[step].set()
        for loop in loops:
            loop.join(timeout=300)
    assert failures == []
    assert seen[0] == "production" and seen.count("candidate") >= 20
    assert seen[-40:] == ["production"] * 40


def _servers(uri: str, name: str) -> list[Any]:
    with assay.Api(uri) as api:
        return api.model_servers(name)


def _until(check: Any, what: str) -> Any:
    for _ in range(600):  # at most a minute
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def test_a_server_announces_itself_follows_a_move_and_withdraws_on_stop(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    x, _ = table()
    log_and_register(
        uri, pipeline(), "clf", metadata={"input_example": x.head(2).to_dict(orient="list")}
    )
    v2 = log_and_register(uri, pipeline(seed=1), "clf", alias=None)
    with serving(uri, "models:/clf@production", "--announce-interval", "0.3") as base:
        [server] = _until(lambda: _servers(uri, "clf"), "the announcement")
        assert server.url == base and server.live and server.pid > 0
        assert [(m.uri, m.arms) for m in server.models] == [
            ("models:/clf@production", {"production": 1})
        ]
        assay.models.set_alias("clf", "production", v2, reason="better", uri=uri)
        moved = _until(
            lambda: [s for s in _servers(uri, "clf") if s.models[0].arms == {"production": 2}],
            "the move announced",
        )
        assert moved[0].id == server.id and moved[0].started_at == server.started_at
        result = subprocess.run(
            [sys.executable, "-m", "assay", "models", "servers", "clf", "--uri", uri],
            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert base in result.stdout and "production v2" in result.stdout
    assert _servers(uri, "clf") == []  # a clean stop withdraws it at once


def test_a_server_killed_without_stopping_reads_as_gone(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    log_and_register(uri, pipeline(), "clf")
    with serving(uri, "models:/clf@production", "--announce-interval", "0.2") as base:
        [server] = _until(lambda: _servers(uri, "clf"), "the announcement")
        os.kill(server.pid, signal.SIGKILL)  # no clean stop: the row stays behind
        gone = _until(
            lambda: [s for s in _servers(uri, "clf") if not s.live], "the server read as gone"
        )
    assert [(s.url, s.live) for s in gone] == [(base, False)]
    with assay.Api(uri) as api:
        assert api.model_servers("clf") == gone
