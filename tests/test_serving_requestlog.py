"""The request log of ``assay serve``: what each answered request leaves in the store, in
process (ASGI) and with real server processes on loopback (a clean stop loses nothing; a
store outage costs no request and the log lands once the store is back)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

import assay
from assay.serving.app import create_app
from assay.serving.config import ServeConfig
from assay.serving.requestlog import PACKED_ROWS, ServedLog, new_request_id
from assay.store.base import open_store
from assay.store.sql.store import SqlStore
from tests.services import free_port
from tests.test_packed import as_before, same
from tests.test_server_e2e import ServerProcess
from tests.test_serving import COLUMNS, log_and_register, oip_columns, pipeline, table

ROOT = Path(__file__).resolve().parent.parent


def requests_of(uri: str, model: str = "clf") -> pd.DataFrame:
    with assay.Api(uri) as api:
        return api.requests(model)


@contextmanager
def served(uri: str, **options: Any) -> Iterator[TestClient]:
    config = ServeConfig(models=("models:/clf@production",), uri=uri, poll_interval=0, **options)
    with TestClient(create_app(config)) as client:
        yield client  # leaving stops the app: the request log is flushed


def test_each_answered_request_is_logged_with_its_inputs_outputs_and_status(
    store_uri: str,
) -> None:
    log_and_register(store_uri, pipeline(), "clf")
    x, _ = table()
    with served(store_uri) as client:
        one = client.post("/v2/models/clf/infer", json=oip_columns(x.head(1)))
        three = client.post(
            "/v2/models/clf/infer", json={**oip_columns(x.head(3)), "id": "batch-7"}
        )
        split = {"dataframe_split": {"columns": COLUMNS, "data": x.head(1).values.tolist()}}
        mlflow = client.post("/invocations", json=split, headers={"x-request-id": "mine-1"})
        bad = client.post("/v2/models/clf/infer", json={"inputs": []})
    assert [r.status_code for r in (one, three, mlflow, bad)] == [200, 200, 200, 400]
    assert one.headers["x-request-id"] == one.json()["id"] == "req-1"
    assert mlflow.headers["x-request-id"] == "mine-1"
    df = requests_of(store_uri).set_index("request_id")
    assert sorted(df.index) == sorted(
        ["req-1", "batch-7/0", "batch-7/1", "batch-7/2", "mine-1", bad.headers["x-request-id"]]
    )
    assert df.loc["req-1", "input.a"] == pytest.approx(x.a.iloc[0])
    assert [df.loc[f"batch-7/{i}", "input.d"] for i in range(3)] == pytest.approx(x.d.head(3))
    predicted = three.json()["outputs"][0]
    column = f"output.{predicted['name']}"
    assert [df.loc[f"batch-7/{i}", column] for i in range(3)] == predicted["data"]
    assert df.loc["mine-1", column] == mlflow.json()["predictions"][0]
    assert df.loc[bad.headers["x-request-id"], "status"] == 400
    assert set(df["version"]) == {"1"} and df["arm"].isna().all()
    assert (df["latency_ms"] > 0).all()


def test_a_request_of_a_hundred_rows_is_one_entry_read_back_as_a_hundred_rows(
    store_uri: str,
) -> None:
    log_and_register(store_uri, pipeline(), "clf")
    x, _ = table()
    with served(store_uri) as client:
        body = {**oip_columns(x.head(100)), "id": "big"}
        answer = client.post("/v2/models/clf/infer", json=body)
        assert answer.status_code == 200
    store = open_store(store_uri)
    try:
        assert isinstance(store, SqlStore)
        with store.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT request_id, row_count FROM request_log")).all()
    finally:
        store.close()
    assert [tuple(row) for row in stored] == [("big", 100)]
    df = requests_of(store_uri)
    assert list(df["request_id"]) == [f"big/{i}" for i in range(100)]
    assert list(df["input.c"]) == pytest.approx(x.c.head(100).tolist())
    assert (
        list(df[f"output.{answer.json()['outputs'][0]['name']}"])
        == (answer.json()["outputs"][0]["data"])
    )
    assert assay.models.log_labels("clf", ["big/7", "big"], [1, 0], uri=store_uri).matched == 2
    labels = requests_of(store_uri)["label"]
    assert labels[7] == 1 and (labels.drop(7) == 0).all()


def test_log_sample_keeps_a_fraction_of_requests_and_zero_keeps_none(store_uri: str) -> None:
    log_and_register(store_uri, pipeline(), "clf")
    x, _ = table()
    body = {**oip_columns(x.head(1)), "id": None}
    with served(store_uri, log_sample=0.5) as client:
        for _ in range(200):
            assert client.post("/v2/models/clf/infer", json=body).status_code == 200
    kept = len(requests_of(store_uri))
    assert 0 < kept < 200  # a fair coin per request: both bounds fail with p = 2**-199
    with served(store_uri, log_sample=0.0) as client:
        for _ in range(20):
            assert client.post("/v2/models/clf/infer", json=body).status_code == 200
        assert "assay_serving_request_log" in client.get("/metrics").text
    assert len(requests_of(store_uri)) == kept


def test_log_sample_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(assay.errors.InvalidInput, match="--log-sample"):
        ServeConfig(models=("models:/clf@production",), log_sample=1.5)


@pytest.mark.parametrize("count", [3, PACKED_ROWS + 6], ids=["lists", "packed"])
def test_columns_of_every_kind_read_back_as_the_values_the_request_held(
    store_uri: str, count: int
) -> None:
    when = np.array(["2026-12-02T08:00:00.000000001", "NaT", "2026-01-01"], dtype="M8[ns]")
    three = {
        "x": np.array([[0.5, 1.0], [np.nan, 2.0], [-1.0, 3.0]])[:, 0],  # a column of a table
        "n": np.array([1, -(2**62), 3]),
        "flag": np.array([True, False, True]),
        "when": when,
        "waited": np.array([1500, "NaT", 0], dtype="m8[ms]"),
        "city": np.array(["Oslo", None, "Lima"], dtype=object),
        "mixed": np.array([1, "a", None], dtype=object),
        "text": np.array(["a", "bc", ""]),
        "vector": np.arange(6.0).reshape(3, 2),
    }
    given = {name: np.resize(array, (count, *array.shape[1:])) for name, array in three.items()}
    table = np.resize(np.array([[0.5, 1.0], [np.nan, 2.0], [-1.0, 3.0]]), (count, 2))
    given["x"] = table[:, 0]  # still a column of a table, strided
    answered = {
        "p": np.resize(np.array([0.1, np.nan, 0.9]), count),
        "label": np.resize(np.array(["a", None, "c"], dtype=object), count),
    }
    served = ServedLog(store_uri, 1.0)
    served.record(
        "clf",
        "1",
        status=200,
        seconds=0.002,
        request_id="r",
        rows=given,
        count=count,
        outputs=answered,
    )
    assert served.close()
    store = open_store(store_uri)
    try:
        (found,) = store.requests.list("clf")
        assert isinstance(store, SqlStore)
        with store.engine.connect() as conn:
            blob = conn.execute(sa.text("SELECT inputs FROM request_log")).scalar_one()
    finally:
        store.close()
    stored = msgspec.msgpack.decode(blob)
    assert isinstance(stored["x"], msgspec.msgpack.Ext) == (count >= PACKED_ROWS)
    assert isinstance(stored["city"], list)  # objects stay lists
    for kind, arrays, columns in (
        ("input", given, found.inputs),
        ("output", answered, found.outputs),
    ):
        assert list(columns) == list(arrays)
        for name, array in arrays.items():
            assert same(columns[name], as_before(array)), f"{kind} {name}"
    df = requests_of(store_uri)
    for kind, arrays in (("input", given), ("output", answered)):
        for name, array in arrays.items():
            column = f"{kind}.{name}"
            pd.testing.assert_series_equal(df[column], pd.Series(as_before(array), name=column))


def test_an_array_of_the_wrong_length_costs_only_its_own_requests_entry(
    store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    served = ServedLog(store_uri, 1.0)
    two = {"x": np.array([1.0, 2.0])}
    cases = [
        ("a", two, np.array([0, 1])),
        ("b", two, np.array([0, 1, 2])),  # three outputs for two rows
        ("c", {"x": np.array([1.0])}, np.array([0, 1])),  # one input for two rows
        ("d", two, np.array([1, 0])),
    ]
    for rid, given, answered in cases:
        served.record(
            "clf",
            "1",
            status=200,
            seconds=0.001,
            request_id=rid,
            rows=given,
            count=2,
            outputs={"p": answered},
        )
    with caplog.at_level(logging.ERROR, logger="assay"):
        assert served.close()
    assert served.writer.dropped == 2 and "could not be built" in caplog.text
    df = requests_of(store_uri)
    assert list(df["request_id"]) == ["a/0", "a/1", "d/0", "d/1"]
    assert list(df["output.p"]) == [0, 1, 1, 0]


# ---- real processes ------------------------------------------------------------------------


@contextmanager
def serving(
    uri: str, journal: Path, *options: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``assay serve`` in a child process, until the block ends with a clean stop."""
    port = free_port()
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])  # this checkout's assay
    env = {**os.environ, "PYTHONPATH": path, "ASSAY_JOURNAL_DIR": str(journal)}
    command = [sys.executable, "-m", "assay", "serve", "models:/clf@production", "--uri", uri]
    log = journal.with_name(f"serve-{port}.log")
    journal.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), *options], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # at most a minute
            if proc.poll() is not None:
                raise AssertionError(f"assay serve exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()  # SIGTERM: uvicorn's graceful shutdown runs the app's lifespan end
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def send(base: str, n: int, bad_every: int = 0, prefix: str = "q") -> list[tuple[str, int, Any]]:
    """``n`` single-row requests (every ``bad_every``-th with a column missing: 400);
    (request id, status, first output value) of each."""
    x, _ = table(n=n, seed=3)
    answered = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(n):
            body = {**oip_columns(x.iloc[[i]]), "id": f"{prefix}{i}"}
            if bad_every and i % bad_every == 0:
                body["inputs"] = body["inputs"][1:]
            r = client.post("/v2/models/clf/infer", json=body)
            value = r.json()["outputs"][0]["data"][0] if r.status_code == 200 else None
            answered.append((r.headers["x-request-id"], r.status_code, value))
    return answered


@pytest.mark.slow
def test_a_served_process_logs_every_request_and_a_clean_stop_loses_none(
    tmp_path: Path,
) -> None:
    uri = str(tmp_path / "store")
    log_and_register(uri, pipeline(), "clf")
    with serving(uri, tmp_path / "journal") as (base, _):
        answered = send(base, 60, bad_every=10)
    assert [s for _, s, _ in answered].count(400) == 6
    df = requests_of(uri)
    assert len(df) == 60  # exactly one entry per request, all delivered by the stop
    got = df.set_index("request_id")
    for rid, status, value in answered:
        assert got.loc[rid, "status"] == status
        if status == 200:
            assert got.loc[rid, next(c for c in df.columns if c.startswith("output."))] == value
    assert set(df["version"]) == {"1"}
    assert not list((tmp_path / "journal" / "requests").glob("*.rlog"))  # all delivered


@pytest.mark.slow
def test_requests_are_answered_through_a_store_outage_and_logged_once_it_is_back(
    tmp_path: Path,
) -> None:
    team = ServerProcess(str(tmp_path / "server-store")).start()
    try:
        log_and_register(team.url, pipeline(), "clf")
        with serving(team.url, tmp_path / "journal") as (base, proc):
            before = send(base, 10)
            team.stop()  # the store is down
            during = send(base, 20, prefix="down-")
            assert all(status == 200 for _, status, _ in before + during)
            assert proc.poll() is None
            team.start()  # back on the same port
            for _ in range(1200):  # bounded: at most two minutes for the retries to land
                if len(requests_of(team.url)) == 30:
                    break
                time.sleep(0.1)
        df = requests_of(team.url)
    finally:
        team.stop()
    assert len(df) == 30 and df["request_id"].is_unique
    assert set(df["status"]) == {200}


def test_new_request_ids_are_distinct_hex_in_every_process() -> None:
    here = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in here) and len(set(here)) == 10_000
    with multiprocessing.get_context("fork").Pool(2) as pool:  # forked workers reseed
        there = pool.map(_ids, [100, 100])
    assert len({*here, *there[0], *there[1]}) == 10_200


def _ids(n: int) -> list[str]:
    return [new_request_id() for _ in range(n)]
