"""Traffic policies in ``assay serve``, in process (Starlette's TestClient): the routing's
arithmetic, sticky keys, shadow copies, a policy edit followed by the watcher, pinned
versions, the protocols' arm headers. Real server processes: tests/test_serving_process.py.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

import assay
from assay.serving.app import create_app
from assay.serving.config import ServeConfig
from assay.serving.traffic import place
from tests.test_serving import COLUMNS, log_and_register, oip_columns, pipeline, table

# ---- models the traffic tests log ----------------------------------------------------------


class Constant:
    """A generic-flavour model of the four columns: answers ``value`` for every row, after
    ``delay`` seconds per call; ``fail`` makes every call fail but on its example (where
    ``a`` is 0.5), so it loads and warms up, then fails on real requests."""

    def __init__(self, value: float, delay: float = 0.0, fail: bool = False) -> None:
        self.value, self.delay, self.fail = value, delay, fail

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        if self.delay:
            time.sleep(self.delay)
        if self.fail and any(r["a"] != 0.5 for r in rows):
            raise RuntimeError("this model fails on every input")
        return [self.value for _ in rows]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(vars(self)))

    @classmethod
    def load(cls, path: Path) -> Constant:
        return cls(**json.loads(path.read_text()))


def constant_meta() -> dict[str, Any]:
    inputs = [{"name": c, "datatype": "FP64", "shape": [-1]} for c in COLUMNS]
    example = {c: [0.5] for c in COLUMNS}
    return {"signature": {"inputs": inputs}, "input_example": example}


def three_versions(uri: str) -> None:
    """clf v1 (@production: the pipeline), v2 (@candidate: always 7), v3 (fails)."""
    x, _ = table()
    log_and_register(
        uri, pipeline(), "clf", metadata={"input_example": x.head(2).to_dict(orient="list")}
    )
    meta = constant_meta()
    log_and_register(uri, Constant(7.0), "clf", "candidate", flavour="python", metadata=meta)
    log_and_register(uri, Constant(0.0, fail=True), "clf", None, flavour="python", metadata=meta)


@pytest.fixture
def uri(tmp_path: Path) -> str:
    found = str(tmp_path / "store")
    three_versions(found)
    return found


def serve(uri: str, **options: Any) -> TestClient:
    config = ServeConfig(models=("models:/clf@production",), uri=uri, **options)
    return TestClient(create_app(config))


def infer(client: TestClient, x: pd.DataFrame, **headers: str) -> Any:
    return client.post("/v2/models/clf/infer", json=oip_columns(x), headers=headers)


def expected_arm(key: str) -> str:
    """The arm of a key under 50/50: arms in order of share, then name (candidate first)."""
    return "candidate" if place("clf", key) < 50 else "production"


# ---- the routing -----------------------------------------------------------------------------


def test_keys_are_placed_evenly_and_the_same_everywhere() -> None:
    places = [place("clf", f"user-{i}") for i in range(10_000)]
    assert all(0 <= p < 100 for p in places)
    assert places[:3] == [place("clf", f"user-{i}") for i in range(3)]
    below = sum(p < 30 for p in places)  # binomial(10000, 0.3): sd 46
    assert abs(below - 3000) < 5 * 46
    assert place("clf", "user-1") != place("other", "user-1")


# ---- following a policy ------------------------------------------------------------------------


def test_a_split_answers_from_each_arm_and_names_it(uri: str) -> None:
    assay.models.set_traffic("clf", {"production": 50, "candidate": 50}, uri=uri)
    x, _ = table()
    expected = pipeline().predict(x.head(1)).tolist()
    arms: Counter[str] = Counter()
    with serve(uri, poll_interval=0) as client:
        for _ in range(200):
            r = infer(client, x.head(1))
            assert r.status_code == 200, r.text
            body = r.json()
            arm = body["parameters"]["arm"]
            assert r.headers["x-assay-arm"] == arm
            assert r.headers["x-assay-model-version"] == body["model_version"]
            want = {"production": ("1", expected), "candidate": ("2", [7.0])}[arm]
            assert (body["model_version"], body["outputs"][0]["data"]) == want
            arms[arm] += 1
        meta = client.get("/v2/models/clf").json()
        r = client.post("/invocations", json={"dataframe_records": x.head(2).to_dict("records")})
        assert r.headers["x-assay-arm"] in {"production", "candidate"}
        metrics = client.get("/metrics").text
    assert abs(arms["candidate"] - 100) < 5 * 7.1  # binomial(200, 0.5)
    traffic = meta["parameters"]["traffic"]
    assert meta["versions"] == ["1", "2"]
    assert traffic["arms"] == {
        "production": {"version": "1", "share": 50.0},
        "candidate": {"version": "2", "share": 50.0},
    }
    assert 'arm="candidate",model="clf",status="200",version="2"' in metrics


def test_a_sticky_key_keeps_one_arm_and_a_pinned_version_bypasses_the_policy(uri: str) -> None:
    assay.models.set_traffic(
        "clf", {"production": 50, "candidate": 50}, sticky="header:x-user-id", uri=uri
    )
    x, _ = table()
    with serve(uri, poll_interval=0) as client:
        seen = {
            f"u{k}": {
                infer(client, x.head(1), **{"x-user-id": f"u{k}"}).json()["parameters"]["arm"]
                for _ in range(5)
            }
            for k in range(30)
        }
        body = {**oip_columns(x.head(1)), "id": "pinned"}
        pinned = client.post("/v2/models/clf/versions/2/infer", json=body)
        unknown = client.post("/v2/models/clf/versions/3/infer", json=oip_columns(x.head(1)))
    assert all(len(arms) == 1 for arms in seen.values())
    assert {a for arms in seen.values() for a in arms} == {"production", "candidate"}
    assert all(arms == {expected_arm(key)} for key, arms in seen.items())
    assert pinned.json()["model_version"] == "2" and pinned.headers["x-assay-arm"] == "candidate"
    assert unknown.status_code == 404 and "(serving: 1, 2)" in unknown.json()["error"]


def test_a_sticky_input_field_the_model_does_not_take_is_read_then_dropped(uri: str) -> None:
    assay.models.set_traffic(
        "clf", {"production": 50, "candidate": 50}, sticky="input:user_id", uri=uri
    )
    x, _ = table()
    with serve(uri, poll_interval=0) as client:
        arms = set()
        for k in range(20):
            body = oip_columns(x.head(1))
            body["inputs"].append(
                {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": [f"u{k}"]}
            )
            r = client.post("/v2/models/clf/infer", json=body)
            assert r.status_code == 200, r.text
            want = expected_arm(f"u{k}")
            assert r.json()["parameters"]["arm"] == want
            arms.add(want)
            records = [{**x.head(1).to_dict("records")[0], "user_id": f"u{k}"}]
            r = client.post("/invocations", json={"dataframe_records": records})
            assert r.status_code == 200 and r.headers["x-assay-arm"] == want
    assert arms == {"production", "candidate"}


SHADOW_FAILED = 'assay_serving_shadow_requests_total{arm="3",model="clf",status="400",version="3"}'
ANSWERED = 'assay_serving_requests_total{arm="production",model="clf",status="200",version="1"}'


def value(metrics: str, series: str) -> float:
    """A series' value in Prometheus text (0 when absent): counters are per process, so
    tests compare before and after."""
    found = [line for line in metrics.splitlines() if line.startswith(series + " ")]
    return float(found[0].split()[-1]) if found else 0.0


def test_a_failing_shadow_never_fails_the_answer_and_is_counted(uri: str) -> None:
    assay.models.set_traffic("clf", {"production": 100}, shadow={"3": 100}, uri=uri)
    x, _ = table()
    expected = pipeline().predict(x.head(2)).tolist()
    with serve(uri, poll_interval=0) as client:
        before = client.get("/metrics").text
        for _ in range(10):
            r = infer(client, x.head(2))
            assert r.status_code == 200 and r.json()["outputs"][0]["data"] == expected
        for _ in range(200):  # the copies are answered in the background
            after = client.get("/metrics").text
            if value(after, SHADOW_FAILED) - value(before, SHADOW_FAILED) >= 10:
                break
            time.sleep(0.05)
    assert value(after, SHADOW_FAILED) - value(before, SHADOW_FAILED) == 10
    assert value(after, ANSWERED) - value(before, ANSWERED) == 10


def test_a_policy_edit_is_followed_while_serving(uri: str) -> None:
    x, _ = table()
    with serve(uri, poll_interval=0.1) as client:
        assert infer(client, x.head(1)).headers["x-assay-arm"] == "production"
        assay.models.set_traffic("clf", {"candidate": 100}, reason="all in", uri=uri)
        arms = []
        for _ in range(600):  # bounded: the watcher polls every 0.1 s
            arms.append(infer(client, x.head(1)).headers["x-assay-arm"])
            if arms[-1] == "candidate":
                break
            time.sleep(0.02)
        assert arms[-1] == "candidate"
        assay.models.clear_traffic("clf", reason="back", uri=uri)
        for _ in range(600):
            arms.append(infer(client, x.head(1)).headers["x-assay-arm"])
            if arms[-1] == "production":
                break
            time.sleep(0.02)
        meta = client.get("/v2/models/clf").json()
    assert arms[-1] == "production"
    assert meta["parameters"]["traffic"]["arms"] == {"production": {"version": "1", "share": 100.0}}


def test_no_traffic_ignores_the_policy(uri: str) -> None:
    assay.models.set_traffic("clf", {"candidate": 100}, uri=uri)
    x, _ = table()
    with serve(uri, poll_interval=0, traffic=False) as client:
        r = infer(client, x.head(1))
        meta = client.get("/v2/models/clf").json()
    assert r.headers["x-assay-arm"] == "production" and r.json()["model_version"] == "1"
    assert meta["parameters"]["traffic"]["follows_policy"] is False


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ASSAY_SERVE_URL", raising=False)
    yield


def test_the_request_log_records_the_arm_a_policy_chose(uri: str) -> None:
    from assay.store import open_store

    assay.models.set_traffic("clf", {"production": 50, "candidate": 50}, uri=uri)
    x, _ = table()
    answered = {}
    with serve(uri, poll_interval=0) as client:
        for i in range(40):
            body = {**oip_columns(x.head(1)), "id": f"q{i}"}
            r = client.post("/v2/models/clf/infer", json=body)
            assert r.headers["x-request-id"] == f"q{i}"
            answered[f"q{i}"] = r.headers["x-assay-arm"]
        body = {**oip_columns(x.head(1)), "id": "pinned"}
        pinned = client.post("/v2/models/clf/versions/2/infer", json=body)
    store = open_store(uri)  # the server flushed its log when it stopped
    try:
        logged = {e.request_id: e for e in store.requests.list("clf")}
    finally:
        store.close()
    assert {rid: logged[rid].arm for rid in answered} == answered
    assert set(answered.values()) == {"production", "candidate"}
    assert all(
        logged[rid].version == ("2" if arm == "candidate" else "1") for rid, arm in answered.items()
    )
    assert logged[pinned.headers["x-request-id"]].arm is None  # no policy chose it
