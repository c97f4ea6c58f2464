"""Monitors on a served model's request log: window series per version and arm, drift
against a stored reference profile, late labels, alert incidents delivered to a webhook
on a loopback HTTP receiver, once per incident even with two schedulers.

The request log is a DataFrame here (``FrameSource``); tests/test_monitor_serving.py runs
the same against a real ``assay serve``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from assay.errors import InvalidInput
from assay.monitoring.alerts import Rule
from assay.monitoring.requests import FrameSource
from assay.monitoring.spec import MonitorSpec, parse_duration
from assay.sdk import alerting, monitors
from assay.sdk.alerting import post
from assay.store import Store
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, log_model

T0 = 1_790_000_040.0  # a multiple of 60, in the past: window k is [T0 + 60k, T0 + 60(k+1))
WINDOW = 60.0


def reference_frame(n: int = 2_000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {"x": x, "c": rng.choice(["a", "b", "c"], size=n), "label": (x > 0).astype(int)}
    )


def requests(
    step: int,
    n: int = 200,
    *,
    seed: int = 0,
    shift: float = 0.0,
    version: str = "1",
    arm: str | None = None,
    errors: float = 0.0,
    labelled: bool = False,
) -> pd.DataFrame:
    """``n`` requests inside window ``step``: x ~ N(shift, 1), prediction = x > 0."""
    rng = np.random.default_rng(seed + 1000 * step)
    x = rng.normal(size=n) + shift
    seconds = T0 + step * WINDOW + np.sort(rng.uniform(0, WINDOW - 1, size=n))
    failed = rng.uniform(size=n) < errors
    predicted = (x > 0).astype(int)
    truth = np.where(rng.uniform(size=n) < 0.9, predicted, 1 - predicted)  # 90% accurate
    return pd.DataFrame(
        {
            "request_id": [f"{version}-{step}-{seed}-{i}" for i in range(n)],
            "time": pd.to_datetime(seconds, unit="s", utc=True),
            "model": "clf",
            "version": version,
            "arm": arm,
            "status": np.where(failed, 500, 200),
            "latency_ms": rng.gamma(4.0, 2.5, size=n),
            "input.x": x,
            "input.c": rng.choice(["a", "b", "c"], size=n),
            "output.prediction": predicted,
            "label": pd.array(truth if labelled else [None] * n, dtype="Int64"),
            "labelled_at": pd.NaT,
        }
    )


def log_of(*frames: pd.DataFrame) -> FrameSource:
    return FrameSource(pd.concat(frames, ignore_index=True))


@pytest.fixture
def model_store(store: Store, tmp_path: Path) -> Store:
    version = log_model(store, tmp_path, b"weights")
    store.models.register(version.id, "clf")
    store.models.set_alias("clf", "production", 1)
    return store


def _series(store: Store, run_id: str, key: str) -> dict[int, float]:
    found = store.runs.history(run_id, [key]).get(key)
    if found is None:
        return {}
    return dict(zip(found.steps.tolist(), found.values.tolist(), strict=True))


def free_port() -> int:
    """A loopback port nothing listens on (until a Receiver is started on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """A webhook on a loopback port: records every JSON body; answers ``codes`` in turn
    (then 200), waiting ``delays`` seconds in turn before answering (then at once)."""

    def __init__(
        self, codes: list[int] | None = None, port: int = 0, delays: list[float] | None = None
    ) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.codes = list(codes or [])
        self.delays = list(delays or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                if receiver.delays:
                    time.sleep(receiver.delays.pop(0))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


# ---- windows ------------------------------------------------------------------------------


def test_each_closed_window_is_logged_once_per_version_and_arm(model_store: Store) -> None:
    monitor = monitors.add(
        model_store, "models:/clf@production", window="1m", reference=reference_frame(),
        start=T0,
    )  # fmt: skip
    source = log_of(
        requests(0, version="1"),
        requests(0, 60, version="2", arm="canary", errors=0.5),
        requests(1, version="1"),
        requests(2, 50),  # window 2 is still open at T0 + 150
    )
    done = monitors.run_one(model_store, monitor.id, source, now=T0 + 150)
    assert done.windows == [0, 1]
    assert _series(model_store, monitor.id, "traffic") == {0: 260.0, 1: 200.0}
    assert _series(model_store, monitor.id, "version=1/traffic") == {0: 200.0, 1: 200.0}
    assert _series(model_store, monitor.id, "version=2,arm=canary/traffic") == {0: 60.0}
    canary_errors = _series(model_store, monitor.id, "version=2/error_rate")[0]
    assert 0.3 < canary_errors < 0.7
    assert _series(model_store, monitor.id, "version=1/error_rate") == {0: 0.0, 1: 0.0}
    p50 = _series(model_store, monitor.id, "latency_p50_ms")[0]
    p99 = _series(model_store, monitor.id, "latency_p99_ms")[0]
    assert 0 < p50 < p99
    again = monitors.run_one(model_store, monitor.id, source, now=T0 + 150)
    assert again.windows == []  # nothing logged twice
    later = monitors.run_one(model_store, monitor.id, source, now=T0 + 181)
    assert later.windows == [2] and _series(model_store, monitor.id, "traffic")[2] == 50.0


def test_input_drift_and_prediction_drift_show_in_the_window_with_shifted_inputs(
    model_store: Store,
) -> None:
    monitor = monitors.add(model_store, "clf", window=WINDOW, reference=reference_frame(), start=T0)
    source = log_of(requests(0, 500), requests(1, 500, shift=1.0), requests(2, 500, seed=7))
    monitors.run_one(model_store, monitor.id, source, now=T0 + 3 * WINDOW)
    assert _series(model_store, monitor.id, "drift") == {0: 0.0, 1: 1.0, 2: 0.0}
    x_p = _series(model_store, monitor.id, "drift.x.p_value")
    assert x_p[1] < 1e-6 < x_p[0]
    assert _series(model_store, monitor.id, "drift.x.drifted")[1] == 1.0
    assert _series(model_store, monitor.id, "drift.c.drifted")[1] == 0.0
    assert _series(model_store, monitor.id, "drift.x.effect")[1] > 0.25  # PSI: large
    # no prediction column in the reference: window 0's outputs are the baseline
    assert _series(model_store, monitor.id, "prediction_drift") == {1: 1.0, 2: 0.0}


def test_a_window_without_traffic_logs_zero_traffic_and_no_other_value(
    model_store: Store,
) -> None:
    monitor = monitors.add(model_store, "clf", window="1m", reference=reference_frame(), start=T0)
    source = log_of(requests(1))
    monitors.run_one(model_store, monitor.id, source, now=T0 + 2 * WINDOW)
    assert _series(model_store, monitor.id, "traffic") == {0: 0.0, 1: 200.0}
    assert _series(model_store, monitor.id, "drift") == {1: 0.0}
    assert 0 not in _series(model_store, monitor.id, "latency_p99_ms")


def test_late_labels_are_joined_to_windows_logged_before(model_store: Store) -> None:
    monitor = monitors.add(model_store, "clf", window="1m", start=T0)
    unlabelled = requests(0, 400)
    source = FrameSource(unlabelled.copy())
    monitors.run_one(model_store, monitor.id, source, now=T0 + WINDOW + 1)
    assert _series(model_store, monitor.id, "labelled") == {0: 0.0}
    assert _series(model_store, monitor.id, "accuracy") == {}
    source.frame["label"] = requests(0, 400, labelled=True)["label"]  # labels arrive
    done = monitors.run_one(model_store, monitor.id, source, now=T0 + 2 * WINDOW + 1)
    assert done.relabelled == [0]
    accuracy = _series(model_store, monitor.id, "accuracy")[0]
    low = _series(model_store, monitor.id, "accuracy_low")[0]
    high = _series(model_store, monitor.id, "accuracy_high")[0]
    assert low < accuracy < high and 0.85 < accuracy < 0.95
    assert _series(model_store, monitor.id, "version=1/accuracy")[0] == accuracy
    assert _series(model_store, monitor.id, "labelled")[0] == 400.0
    again = monitors.run_one(model_store, monitor.id, source, now=T0 + 2 * WINDOW + 2)
    assert again.relabelled == []  # nothing new to join


# ---- alerts -------------------------------------------------------------------------------


def test_an_alert_fires_once_per_incident_and_resolves_with_webhook_and_audit(
    model_store: Store, receiver: Receiver
) -> None:
    monitor = monitors.add(
        model_store, "models:/clf@production", window="1m", reference=reference_frame(),
        alerts=["drift", "error_rate > 0.1 for 2m"], webhook=receiver.url, start=T0,
    )  # fmt: skip
    frames = [
        requests(0, 300),
        requests(1, 300, shift=1.0, errors=0.3),
        requests(2, 300, shift=1.0, errors=0.3, seed=3),
        requests(3, 300, seed=4),
    ]
    source = log_of(*frames)
    events = []
    for step in range(4):
        done = monitors.run_one(model_store, monitor.id, source, now=T0 + (step + 1) * WINDOW)
        events.extend((step, c.event, c.alert.rule) for c in done.changes)
        monitors.run_one(model_store, monitor.id, source, now=T0 + (step + 1) * WINDOW)
    assert events == [
        (1, "fired", "drift"),
        (2, "fired", "error_rate > 0.1 for 2m"),
        (3, "resolved", "drift"),
        (3, "resolved", "error_rate > 0.1 for 2m"),
    ]
    got = [(b["event"], b["alert"]["rule"], b["alert"]["step"]) for b in receiver.bodies]
    assert got == [
        ("fired", "drift", 1),
        ("fired", "error_rate > 0.1 for 2m", 2),
        ("resolved", "drift", 3),
        ("resolved", "error_rate > 0.1 for 2m", 3),
    ]
    first = receiver.bodies[0]
    assert first["monitor"]["model"] == "clf" and first["monitor"]["id"] == monitor.id
    assert first["alert"]["value"] == 1.0 and "FIRING" in first["text"]
    stored = model_store.alerts.list(monitor_id=monitor.id)
    assert len(stored) == 2 and all(a.resolved_step == 3 for a in stored)
    assert all(a.deliveries["fired"]["ok"] and a.deliveries["resolved"]["ok"] for a in stored)
    if isinstance(model_store, SqlStore):
        from assay.store.sql import audit

        actions = [r.action for r in audit.records(model_store.db.engine, f"run:{monitor.id}")]
        assert actions.count("alert.fired") == 2 and actions.count("alert.resolved") == 2


def test_a_pass_that_catches_up_on_several_windows_misses_no_incident(
    model_store: Store, receiver: Receiver
) -> None:
    monitor = monitors.add(
        model_store, "clf", window="1m", reference=reference_frame(), alerts=["drift"],
        webhook=receiver.url, start=T0,
    )  # fmt: skip
    source = log_of(requests(0, 300), requests(1, 300, shift=1.5), requests(2, 300, seed=5))
    done = monitors.run_one(model_store, monitor.id, source, now=T0 + 3 * WINDOW)
    assert done.windows == [0, 1, 2]
    assert [(c.event, c.alert.opened_step) for c in done.changes] == [
        ("fired", 1),
        ("resolved", 1),
    ]
    assert [b["event"] for b in receiver.bodies] == ["fired", "resolved"]
    assert receiver.bodies[1]["alert"]["step"] == 2


def test_two_schedulers_deliver_one_incident_once(
    sql_store_factory: StoreFactory, tmp_path: Path, receiver: Receiver
) -> None:
    first, second = sql_store_factory(), sql_store_factory()  # one database, two clients
    version = log_model(first, tmp_path, b"weights")
    first.models.register(version.id, "clf")
    monitor = monitors.add(
        first, "clf", window="1m", reference=reference_frame(), alerts=["drift"],
        webhook=receiver.url, start=T0,
    )  # fmt: skip
    source = log_of(requests(0, 300, shift=1.5), requests(1, 300, shift=1.5))
    results: list[monitors.Pass] = []

    def schedule(store: Store) -> None:
        for _ in range(3):
            results.append(monitors.run_one(store, monitor.id, source, now=T0 + 2 * WINDOW))

    threads = [threading.Thread(target=schedule, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for r in results for s in r.windows) == [0, 1]
    assert sum(len(r.changes) for r in results) == 1
    assert [b["event"] for b in receiver.bodies] == ["fired"]


ERRORS = {"down": "ConnectError", "5xx": "HTTP 503", "timeout": "Timeout"}


@pytest.mark.parametrize("failure", list(ERRORS))
def test_a_failed_delivery_is_retried_on_later_passes_until_delivered_once(
    model_store: Store, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerting, "TIMEOUT", 0.5)
    port = free_port()
    hook = None
    if failure != "down":  # "down": nothing listens on the port until the retry
        codes, delays = ([503], []) if failure == "5xx" else ([], [2.0])
        hook = Receiver(codes=codes, delays=delays, port=port)
    try:
        monitor = monitors.add(
            model_store, "clf", window="1m", reference=reference_frame(), alerts=["drift"],
            webhook=f"http://127.0.0.1:{port}/hook", start=T0,
        )  # fmt: skip
        source = log_of(requests(0, 300, shift=2.0), requests(1, 300, seed=7))
        at = T0 + WINDOW
        done = monitors.run_one(model_store, monitor.id, source, now=at)
        assert [c.event for c in done.changes] == ["fired"]
        (alert,) = model_store.alerts.list(monitor_id=monitor.id)
        fired = alert.deliveries["fired"]
        assert fired["state"] == "pending" and fired["attempts"] == 1
        assert ERRORS[failure] in fired["error"]
        assert fired["next_at"] == at + alerting.RETRY_FIRST
        # passes before the retry is due post nothing, and fire nothing again
        again = monitors.run_one(model_store, monitor.id, source, now=at + alerting.RETRY_FIRST - 1)
        assert again.changes == [] and again.deliveries == []
        if hook is None:
            hook = Receiver(port=port)
        retried = monitors.run_one(model_store, monitor.id, source, now=at + alerting.RETRY_FIRST)
        assert [(d.event, d.outcome["state"]) for d in retried.deliveries] == [
            ("fired", "delivered")
        ]
        (alert,) = model_store.alerts.list(monitor_id=monitor.id)
        assert alert.deliveries["fired"]["attempts"] == 2
        assert alert.deliveries["fired"]["error"] is None
        later = monitors.run_one(model_store, monitor.id, source, now=at + 50)
        assert later.deliveries == []
        resolved = monitors.run_one(model_store, monitor.id, source, now=T0 + 2 * WINDOW)
        assert [
            (c.event, d.event) for c, d in zip(resolved.changes, resolved.deliveries, strict=True)
        ] == [("resolved", "resolved")]
    finally:
        if hook is not None:
            hook.close()
    events = [b["event"] for b in hook.bodies]
    # the receiver saw the first attempt too when it answered 503 or too late
    assert events == (
        ["fired", "resolved"] if failure == "down" else ["fired", "fired", "resolved"]
    )
    assert len(model_store.alerts.list(monitor_id=monitor.id)) == 1


def test_a_delivery_the_receiver_refuses_fails_at_once_and_is_not_retried(
    model_store: Store,
) -> None:
    hook = Receiver(codes=[400])
    try:
        monitor = monitors.add(
            model_store, "clf", window="1m", reference=reference_frame(), alerts=["drift"],
            webhook=hook.url, start=T0,
        )  # fmt: skip
        source = log_of(requests(0, 300, shift=2.0))
        monitors.run_one(model_store, monitor.id, source, now=T0 + WINDOW)
        run, spec = monitors.get(model_store, monitor.id)
        later = alerting.deliver_due(model_store, run, spec, now=T0 + WINDOW + 7200)
    finally:
        hook.close()
    assert len(hook.bodies) == 1 and later == []
    (alert,) = model_store.alerts.list(monitor_id=monitor.id)
    fired = alert.deliveries["fired"]
    assert fired["state"] == "failed" and fired["status"] == 400 and fired["attempts"] == 1
    assert alerting.delivery_text(fired) == "failed after 1 attempt: HTTP 400"


def test_a_pending_delivery_gives_up_a_day_after_its_first_attempt(model_store: Store) -> None:
    monitor = monitors.add(
        model_store, "clf", window="1m", reference=reference_frame(), alerts=["drift"],
        webhook=f"http://127.0.0.1:{free_port()}/hook", start=T0,
    )  # fmt: skip
    source = log_of(requests(0, 300, shift=2.0))
    at = T0 + WINDOW
    monitors.run_one(model_store, monitor.id, source, now=at)
    run, spec = monitors.get(model_store, monitor.id)
    waits = []
    now = at
    for _ in range(40):
        (alert,) = model_store.alerts.list(monitor_id=monitor.id)
        fired = alert.deliveries["fired"]
        if fired["state"] != "pending":
            break
        waits.append(fired["next_at"] - now)
        now = fired["next_at"]
        alerting.deliver_due(model_store, run, spec, now=now)
    assert waits[:4] == [30.0, 60.0, 120.0, 240.0] and max(waits) == alerting.RETRY_MAX
    assert fired["state"] == "failed" and now - at >= alerting.GIVE_UP
    assert "ConnectError" in fired["error"]


def test_post_records_what_the_receiver_said_and_whether_to_retry() -> None:
    refused = Receiver(codes=[400, 429, 503])
    try:
        said = [post(refused.url, {"event": "fired"}) for _ in range(4)]
    finally:
        refused.close()
    assert [(s["status"], s["retry"], s["ok"]) for s in said] == [
        (400, False, False), (429, True, False), (503, True, False), (200, False, True),
    ]  # fmt: skip
    gone = post(f"http://127.0.0.1:{free_port()}/none", {"event": "fired"})
    assert gone["ok"] is False and gone["retry"] and "ConnectError" in gone["error"]


@pytest.mark.parametrize(
    ("text", "series", "op", "threshold", "duration"),
    [
        ("drift", "drift", "!=", 0.0, 0.0),
        ("error_rate > 0.02 for 10m", "error_rate", ">", 0.02, 600.0),
        ("p99_ms > 50", "latency_p99_ms", ">", 50.0, 0.0),
        ("version=3/accuracy<0.9 for 2h", "version=3/accuracy", "<", 0.9, 7200.0),
    ],
)
def test_alert_rules_parse(
    text: str, series: str, op: str, threshold: float, duration: float
) -> None:
    rule = Rule.parse(text)
    assert (rule.series, rule.op, rule.threshold, rule.duration) == (
        series, op, threshold, duration,
    )  # fmt: skip


@pytest.mark.parametrize("text", ["", "error_rate >", "p99 > fast", "drift for ever", "a b"])
def test_bad_alert_rules_are_refused_with_the_form_named(text: str) -> None:
    with pytest.raises(InvalidInput, match="SERIES"):
        Rule.parse(text)


def test_a_rule_for_a_duration_needs_every_window_of_it() -> None:
    rule = Rule.parse("error_rate > 0.02 for 10m")
    assert rule.windows(300.0) == 2
    assert rule.holds({1: 0.5, 2: 0.5}, 2, 300.0) is True
    assert rule.holds({1: 0.0, 2: 0.5}, 2, 300.0) is False
    assert rule.holds({2: 0.5}, 2, 300.0) is False
    assert rule.holds({1: 0.5}, 2, 300.0) is None  # no value: no decision


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scorer": "f1"}, "scorer 'f1'"),
        ({"alpha": 2.0}, "alpha"),
        ({"webhook": "ftp://x"}, "webhook"),
        ({"alerts": ["drift >"]}, "alert rule"),
    ],
)
def test_bad_monitor_definitions_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        MonitorSpec(**{"model": "m", "window": 60.0, "origin": 0.0, **changes})


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("10m", 600.0), ("1h", 3600.0)])
def test_durations_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0s", "-1h", "soon", "1w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration(text)


# ---- definitions, profiles as artifacts -----------------------------------------------------


def test_a_monitor_of_a_dataset_stores_a_reference_profile_with_lineage(
    model_store: Store, tmp_path: Path
) -> None:
    from assay.artifacts.artifact import Artifact, log_artifact

    data = tmp_path / "train.csv"
    reference_frame(300).to_csv(data, index=False)
    art = Artifact("train", type="dataset")
    art.add_file(data)
    dataset = log_artifact(model_store, art, "p")
    monitor = monitors.add(model_store, "clf", reference="train:v0", window="1h")
    _, spec = monitors.get(model_store, monitor.id)
    assert spec.reference == "p/clf-reference:v0" and spec.reference_data == "p/train:v0/train.csv"
    edges = model_store.artifacts.lineage_edges([monitor.id], [])
    kinds = {(e.kind, e.version_id) for e in edges}
    profile_version = model_store.artifacts.version("p", "clf-reference", "v0")
    assert kinds == {("used", dataset.id), ("produced", profile_version.id)}
    assert profile_version.type == "profile" and profile_version.metadata["rows"] == 300


def test_monitors_are_listed_per_model_and_removed(model_store: Store) -> None:
    one = monitors.add(model_store, "clf", window="1h")
    two = monitors.add(model_store, "models:/clf@production", window="1d", alerts=["drift"])
    assert [m.id for m in monitors.monitors(model_store, model="clf")] == [one.id, two.id]
    assert monitors.monitors(model_store, model="other") == []
    monitors.remove(model_store, one.id)
    assert [m.id for m in monitors.monitors(model_store)] == [two.id]
    assert model_store.runs.get(one.id).status == "killed"


def test_a_monitor_of_an_unknown_model_is_refused(store: Store) -> None:
    from assay.errors import NotFound

    with pytest.raises(NotFound, match="nope"):
        monitors.add(store, "models:/nope@production")


def test_run_log_profile_stores_a_profile_artifact(store_uri: str) -> None:
    import assay
    from assay.monitoring import Profile
    from assay.sdk.profiles import load_profile

    with assay.init(project="p", uri=store_uri, mode="online") as run:
        version = run.log_profile(reference_frame(500), name="train-profile")
    assert version is not None and version.type == "profile"
    with assay.Api(store_uri) as api:
        loaded = load_profile(api.store, "train-profile:latest", "p")
    assert isinstance(loaded, Profile) and loaded.rows == 500 and "x" in loaded


# ---- the CLI ----------------------------------------------------------------------------------


def test_the_cli_adds_lists_shows_runs_and_removes_monitors(store_uri: str, tmp_path: Path) -> None:
    from assay.cli.main import cli

    store = SqlStore.embedded(Path(store_uri))
    version = log_model(store, tmp_path, b"weights")
    store.models.register(version.id, "clf")
    data = tmp_path / "ref.csv"
    reference_frame(300).to_csv(data, index=False)
    cli_env = {"ASSAY_URI": store_uri}
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["monitor", "add", "models:/clf@production", "--reference", str(data), "--window",
         "10m", "--alert", "drift", "--alert", "p99_ms > 50", "--webhook", "http://127.0.0.1:9/x"],
        env=cli_env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    monitor_id = added.output.split()[1]
    listed = runner.invoke(cli, ["monitor", "ls"], env=cli_env)
    assert monitor_id in listed.output and "clf@production" in listed.output
    shown = runner.invoke(cli, ["monitor", "show", monitor_id, "--json"], env=cli_env)
    body = json.loads(shown.output)
    assert body["spec"]["alerts"] == ["drift", "p99_ms > 50"] and body["spec"]["window"] == 600
    ran = runner.invoke(cli, ["monitor", "run", "--once"], env=cli_env)
    assert ran.exit_code == 0, ran.output
    assert f"{monitor_id}: 0 windows" in ran.output  # the first window has not closed yet
    removed = runner.invoke(cli, ["monitor", "rm", monitor_id], env=cli_env)
    assert removed.exit_code == 0
    assert monitor_id not in runner.invoke(cli, ["monitor", "ls"], env=cli_env).output
    bad = runner.invoke(cli, ["monitor", "add", "clf", "--alert", "p99 >"], env=cli_env)
    assert bad.exit_code == 1 and "alert rule" in bad.output


def test_monitor_show_says_a_delivery_is_pending_with_the_last_error(
    store_uri: str, tmp_path: Path
) -> None:
    from assay.cli.main import cli

    store = SqlStore.embedded(Path(store_uri))
    store.models.register(log_model(store, tmp_path, b"weights").id, "clf")
    monitor = monitors.add(
        store, "clf", window="1m", reference=reference_frame(), alerts=["drift"],
        webhook=f"http://127.0.0.1:{free_port()}/hook", start=T0,
    )  # fmt: skip
    monitors.run_one(store, monitor.id, log_of(requests(0, 300, shift=2.0)), now=T0 + WINDOW)
    runner = CliRunner()
    env = {"ASSAY_URI": store_uri, "COLUMNS": "250"}
    shown = runner.invoke(cli, ["monitor", "show", monitor.id], env=env)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "fired: pending after 1 attempt: ConnectError" in text
    assert "next attempt 2026-" in text
    body = json.loads(runner.invoke(cli, ["monitor", "show", monitor.id, "--json"], env=env).output)
    assert body["alerts"][0]["deliveries"]["fired"]["state"] == "pending"


def test_window_times_are_utc() -> None:
    spec = MonitorSpec(model="m", window=3600.0, origin=T0)
    start, end = spec.bounds(2)
    assert start == datetime.fromtimestamp(T0 + 7200, tz=UTC) and end.tzinfo is UTC
    assert spec.last_closed(T0 + 3 * 3600 - 1) == 1


def test_a_tensor_input_is_spread_into_one_column_per_position() -> None:
    from assay.monitoring.requests import inputs_of

    frame = pd.DataFrame({"input.x": [[1.0, 2.0], [3.0, 4.0]], "input.name": ["a", "b"]})
    spread = inputs_of(frame)
    assert list(spread.columns) == ["x[0]", "x[1]", "name"]
    assert spread["x[1]"].tolist() == [2.0, 4.0]
    ragged = pd.DataFrame({"input.x": [[1.0], [3.0, 4.0]]})
    assert list(inputs_of(ragged).columns) == ["x"]  # not a tensor: left as it is


def test_mean_absolute_error_is_scored_with_a_t_interval() -> None:
    from assay.monitoring.windows import performance

    rows = pd.DataFrame(
        {"status": [200] * 4 + [500], "output.price": [1.0, 2.0, 3.0, 4.0, 9.0],
         "label": [1.5, 2.0, 2.0, 4.0, 0.0]}
    )  # fmt: skip
    spec = MonitorSpec(model="m", window=60.0, origin=0.0, scorer="mae")
    found = performance(rows, spec)
    assert found["labelled"] == 4.0  # the failed request is not scored
    assert found["mae"] == pytest.approx(0.375)
    assert found["mae_low"] < 0.375 < found["mae_high"]


def test_batch_inference_logged_with_assay_monitoring_log_is_monitored_too(
    store_uri: str, tmp_path: Path
) -> None:
    import assay
    from assay.store.base import open_store

    store = open_store(store_uri)
    try:
        store.models.register(log_model(store, tmp_path, b"weights").id, "clf")
        monitor = monitors.add(
            store, "clf", window="1m", reference=reference_frame(), alerts=["drift"], start=T0
        )
    finally:
        store.close()
    ids = {}
    for step, shift in ((0, 0.0), (1, 1.0)):
        frame = requests(step, 300, shift=shift, labelled=True)
        inputs = pd.DataFrame({"x": frame["input.x"], "c": frame["input.c"]})
        outputs = pd.DataFrame({"prediction": frame["output.prediction"]})
        ids[step] = assay.monitoring.log(
            "models:/clf/1", inputs, outputs, time=T0 + step * WINDOW + 5, uri=store_uri
        )
        if step == 0:
            truth = frame["label"].tolist()
    assay.monitoring.flush_requests()
    assay.models.log_labels("clf", ids[0], truth, uri=store_uri)
    store = open_store(store_uri)
    try:
        done = monitors.run_one(store, monitor.id, monitors.StoreRequests(store), now=T0 + 121)
        assert done.windows == [0, 1]
        assert _series(store, monitor.id, "traffic") == {0: 300.0, 1: 300.0}
        assert _series(store, monitor.id, "drift") == {0: 0.0, 1: 1.0}
        assert 0.85 < _series(store, monitor.id, "accuracy")[0] < 0.95
        assert [(c.event, c.alert.opened_step) for c in done.changes] == [("fired", 1)]
    finally:
        store.close()
