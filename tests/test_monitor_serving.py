"""Monitoring end to end with real processes on loopback: ``assay serve`` answers traffic
(a window as trained, a window with one input shifted, some bad requests) into the request
log; ``assay server``'s scheduler logs the windows, fires the drift alert to a webhook on
a loopback HTTP receiver once, resolves it; labels joined later by request id show up as
the accuracy series with its interval."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import assay
from assay.sdk import monitors
from assay.store.base import open_store
from assay.store.sql import audit
from assay.store.sql.store import SqlStore
from tests.conftest import QUIET
from tests.test_monitors import Receiver
from tests.test_server_e2e import ServerProcess
from tests.test_serving import log_and_register, oip_columns, pipeline, table
from tests.test_serving_requestlog import requests_of, serving

WINDOW = 6.0  # seconds: short, so that three windows close within the test


def _batch(base: str, rows: Any, request_id: str) -> list[int]:
    """One request of many rows; the predicted classes."""
    r = httpx.post(
        f"{base}/v2/models/clf/infer", json={**oip_columns(rows), "id": request_id}, timeout=60
    )
    assert r.status_code == 200, r.text
    return list(r.json()["outputs"][0]["data"])


def _bad(base: str, n: int) -> None:
    for i in range(n):
        x, _ = table(n=1, seed=i)
        body = {**oip_columns(x), "id": f"bad-{i}"}
        body["inputs"] = body["inputs"][1:]  # a column missing: 400
        assert httpx.post(f"{base}/v2/models/clf/infer", json=body, timeout=30).status_code == 400


def _next_window(origin: float) -> int:
    """Sleep into the next window (a little past its start); its index."""
    step = math.floor((time.time() - origin) / WINDOW) + 1
    time.sleep(max(0.0, origin + step * WINDOW + 0.3 - time.time()))
    return step


def _series(uri: str, run_id: str, key: str) -> dict[int, float]:
    with assay.Api(uri) as api:
        found = api.store.runs.history(run_id, [key]).get(key)
    if found is None:
        return {}
    return dict(zip(found.steps.tolist(), found.values.tolist(), strict=True))


def _until(check: Any, what: str, tries: int = 600) -> Any:
    for _ in range(tries):  # bounded: at most a minute
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen")


@pytest.mark.slow
def test_served_traffic_with_drift_fires_a_webhook_once_and_labels_join(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    log_and_register(uri, pipeline(), "clf")
    train, _ = table(n=3000, seed=11)
    train.to_csv(tmp_path / "train.csv", index=False)
    with assay.init(project="serve", uri=uri, settings=QUIET) as run:
        run.log_artifact(tmp_path / "train.csv", name="clf-train")
    hook = Receiver()
    store = open_store(uri)
    try:
        monitor = monitors.add(
            store, "models:/clf@production", reference="clf-train:latest", window=WINDOW,
            alerts=["drift", "client_error_rate > 0.05"], webhook=hook.url,
        )  # fmt: skip
        _, spec = monitors.get(store, monitor.id)
    finally:
        store.close()
    normal, drifted, after = table(n=400, seed=1)[0], table(n=300, seed=2)[0], table(400, 3)[0]
    drifted["c"] = drifted["c"] + 1.5  # one input shifted by 1.5 SD
    with serving(uri, tmp_path / "journal") as (base, _):
        first = _next_window(spec.origin)
        predicted = _batch(base, normal, "normal")
        second = _next_window(spec.origin)
        _bad(base, 30)  # 30 of 330 requests refused: 9% client errors
        _batch(base, drifted, "drifted")
        third = _next_window(spec.origin)
        _batch(base, after, "after")
    _until(lambda: len(requests_of(uri)) == 1130, "the request log")
    time.sleep(max(0.0, spec.origin + (third + 1) * WINDOW - time.time()))  # third closes
    log = requests_of(uri)
    step_of = {
        rid: math.floor((t.timestamp() - spec.origin) / WINDOW)
        for rid, t in zip(log["request_id"], log["time"], strict=True)
    }
    assert (step_of["normal/0"], step_of["drifted/0"], step_of["after/0"]) == (
        first, second, third
    )  # fmt: skip
    log["step"] = log["request_id"].map(step_of)
    per_step = log.groupby("step").size().to_dict()
    refused = log[log["status"] == 400].groupby("step").size().to_dict()
    server = ServerProcess(uri, extra=("--monitor-interval", "0.5")).start()
    try:
        _until(lambda: len(hook.bodies) >= 4, "four webhook deliveries")
        traffic = _series(uri, monitor.id, "traffic")
        assert {k: v for k, v in traffic.items() if v} == per_step  # the bad requests may
        # have crossed into a later window on a busy machine: counted where they landed
        drift = _series(uri, monitor.id, "drift")
        assert (drift[first], drift[second], drift[third]) == (0.0, 1.0, 0.0)
        assert _series(uri, monitor.id, "drift.c.drifted")[second] == 1.0
        assert _series(uri, monitor.id, "drift.a.drifted")[second] == 0.0
        errors = _series(uri, monitor.id, "version=1/client_error_rate")
        for step, n in refused.items():
            assert errors[step] == pytest.approx(n / per_step[step])
        assert _series(uri, monitor.id, "labelled")[first] == 0.0
        # labels arrive later, joined by request id: the truth for the first window
        truth = (normal.a + normal.b > 0).astype(int).tolist()
        result = assay.models.log_labels("clf", [f"normal/{i}" for i in range(400)], truth, uri=uri)
        assert result.matched == 400
        accuracy = _until(lambda: _series(uri, monitor.id, "accuracy").get(first), "accuracy")
        expected = sum(p == t for p, t in zip(predicted, truth, strict=True)) / 400
        assert accuracy == pytest.approx(expected)
        low = _series(uri, monitor.id, "accuracy_low")[first]
        high = _series(uri, monitor.id, "accuracy_high")[first]
        assert low < accuracy <= high
        time.sleep(1.5)  # three more passes: nothing new to deliver
    finally:
        server.stop()
        hook.close()
    events = [(b["event"], b["alert"]["rule"], b["alert"]["step"]) for b in hook.bodies]
    assert sorted(e for e in events if e[1] == "drift") == [
        ("fired", "drift", second),
        ("resolved", "drift", third),
    ]
    rate = [e for e in events if e[1] == "client_error_rate > 0.05"]
    assert [e[0] for e in rate] == ["fired", "resolved"]  # one incident, delivered once
    assert errors[rate[0][2]] > 0.05 >= errors[rate[1][2]]
    sql = SqlStore.embedded(Path(uri))
    try:
        actions = [r.action for r in audit.records(sql.engine, f"run:{monitor.id}")]
        incidents = sql.alerts.list(monitor_id=monitor.id)
    finally:
        sql.close()
    assert actions.count("alert.fired") == 2 and actions.count("alert.resolved") == 2
    assert all(a.deliveries["fired"]["ok"] and a.deliveries["resolved"]["ok"] for a in incidents)
