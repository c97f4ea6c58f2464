"""``assay serve`` in process: every protocol route through Starlette's TestClient, the
batching core driven directly (concurrent callers, failing rows, overload), alias moves
through the watcher's check, metrics. Real server processes: tests/test_serving_process.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

import assay
from assay.serving.app import create_app
from assay.serving.batching import Answer, Batcher, Busy, Limits
from assay.serving.config import ServeConfig
from assay.serving.loader import LoadedModel, Slot, Target, Watcher
from assay.serving.predictors import Predictor
from assay.serving.signature import Signature, TensorSpec
from assay.serving.tensors import Rows
from assay.store import open_store
from tests.conftest import QUIET

COLUMNS = ["a", "b", "c", "d"]


# ---- models the tests log ------------------------------------------------------------------


class Picky:
    """A generic-flavour model: doubles ``x``, and refuses a negative one (one bad row)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        if self.delay:
            time.sleep(self.delay)
        bad = [r["x"] for r in rows if r["x"] < 0]
        if bad:
            raise ValueError(f"x must not be negative, got {bad[0]}")
        return [2 * r["x"] for r in rows]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"delay": self.delay}))

    @classmethod
    def load(cls, path: Path) -> Picky:
        return cls(json.loads(path.read_text())["delay"])


class Broken(Picky):
    """Logs fine; fails to load (what a bad new version looks like to the server)."""

    @classmethod
    def load(cls, path: Path) -> Picky:
        raise RuntimeError("this version cannot be loaded")


PICKY_META = {
    "signature": {"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}]},
    "input_example": {"x": [1.0]},
}


def table(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 4)), columns=COLUMNS)
    return x, (x.a + x.b > 0).astype(int)


def pipeline(seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = table(seed=seed)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y if seed == 0 else 1 - y)


def log_and_register(
    uri: str, model: Any, name: str, alias: str | None = "production", **options: Any
) -> int:
    with assay.init(project="serve", uri=uri, settings=QUIET) as run:
        run.log_model(model, f"{name}-model", **options)
    mv = assay.register_model(f"serve/{name}-model:latest", name=name, uri=uri)
    if alias is not None:
        assay.models.set_alias(name, alias, mv.version, reason="test", uri=uri)
    return mv.version


def onnx_linear() -> bytes:
    """y = x @ w: an ONNX graph made by hand (no converter needed)."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 1], [1.0, 2.0, 3.0, 4.0])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    x, _ = table()
    example = {"input_example": x.head(2).to_dict(orient="list")}
    log_and_register(uri, pipeline(), "clf", metadata=example)
    log_and_register(uri, Picky(), "picky", flavour="python", metadata=PICKY_META)
    return uri


@pytest.fixture
def client(store_uri: str) -> Iterator[TestClient]:
    config = ServeConfig(
        models=("models:/clf@production", "models:/picky@production"),
        uri=store_uri,
        poll_interval=0,
    )
    with TestClient(create_app(config)) as test_client:
        yield test_client


def oip_columns(x: pd.DataFrame) -> dict[str, Any]:
    return {
        "id": "req-1",
        "inputs": [
            {"name": c, "shape": [len(x)], "datatype": "FP64", "data": x[c].tolist()}
            for c in COLUMNS
        ],
    }


# ---- the Open Inference Protocol -----------------------------------------------------------


def test_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "assay" and meta["extensions"] == []


def test_model_metadata_comes_from_the_signature(client: TestClient) -> None:
    meta = client.get("/v2/models/clf").json()
    assert meta["name"] == "clf" and meta["versions"] == ["1"] and meta["platform"] == "sklearn"
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    assert meta["inputs"][0] == {"name": "a", "datatype": "FP64", "shape": [-1]}
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }
    assert client.get("/v2/models/clf/versions/1").json()["versions"] == ["1"]
    assert client.get("/v2/models/clf/ready").json() == {"name": "clf", "ready": True}
    assert client.get("/v2/models/clf/versions/1/ready").status_code == 200


def test_infer_by_columns_and_by_one_tensor(client: TestClient) -> None:
    x, _ = table()
    expected = pipeline().predict(x.head(5)).tolist()
    r = client.post("/v2/models/clf/infer", json=oip_columns(x.head(5)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "clf" and body["model_version"] == "1" and body["id"] == "req-1"
    assert body["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [5], "data": expected}
    ]
    tensor = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [5, 4],
                "datatype": "FP32",
                "data": x.head(5).to_numpy().tolist(),  # nested rows are fine too
            }
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    r = client.post("/v2/models/clf/versions/1/infer", json=tensor)
    assert r.status_code == 200, r.text
    predict, proba = r.json()["outputs"]
    assert predict["data"] == expected and proba["shape"] == [5, 2]
    tensor["inputs"][0]["name"] = "a"  # named after the first column, as some clients do
    assert client.post("/v2/models/clf/infer", json=tensor).json()["outputs"][0] == predict
    assert r.json()["id"]  # one is made up when the request has none


def test_onnx_models_are_served(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    log_and_register(uri, onnx_linear(), "linear", flavour="onnx")
    config = ServeConfig(models=("models:/linear/1",), uri=uri, poll_interval=0)
    with TestClient(create_app(config)) as c:
        meta = c.get("/v2/models/linear").json()
        assert meta["platform"] == "onnxruntime_onnx"
        assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
        body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1] * 8}]}
        r = c.post("/v2/models/linear/infer", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == [10.0, 10.0]
        r = c.post("/invocations", json={"instances": [[1, 0, 0, 0], [0, 0, 0, 1]]})
        assert r.json() == {"predictions": [[1.0], [4.0]]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}]},
            "missing input 'b' (FP64, shape [-1])",
        ),
        (
            {
                "inputs": [
                    {"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}
                ]
            },
            "shape [-1, 4], got [1, 3]",
        ),
        (
            {
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "BYTES", "data": ["x"]} for c in COLUMNS
                ]
            },
            "input 'a': expected FP64, got BYTES",
        ),
        (
            {"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}]},
            "input 'a': shape [2] needs 2 values, data has 1",
        ),
        (
            {
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "FP64", "data": [1]}
                    for c in [*COLUMNS, "zz"]
                ]
            },
            "unknown input 'zz': this model takes 'a', 'b', 'c', 'd'",
        ),
        (
            {"inputs": [{"name": "zz", "shape": [1], "datatype": "FP64", "data": [1]}]},
            "input 'zz': this model takes 4 named columns",
        ),
        (
            {"inputs": [{"name": "a", "shape": [1], "datatype": "FP99", "data": [1]}]},
            "input 'a': unknown datatype 'FP99'",
        ),
        ({"rows": []}, '"inputs"'),
        (
            {"inputs": [{"name": "input-0", "shape": [0, 4], "datatype": "FP64", "data": []}]},
            "the inputs have no rows",
        ),
    ],
)
def test_bad_input_is_400_naming_the_input_and_what_was_expected(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    r = client.post("/v2/models/clf/infer", json=body)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_not_json_and_unknown_outputs_are_400(client: TestClient) -> None:
    r = client.post("/v2/models/clf/infer", content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    x, _ = table()
    body = {**oip_columns(x.head(1)), "outputs": [{"name": "embedding"}]}
    r = client.post("/v2/models/clf/infer", json=body)
    assert r.status_code == 400 and "unknown output 'embedding'" in r.json()["error"]


def test_unknown_models_and_versions_are_404(client: TestClient) -> None:
    x, _ = table()
    r = client.post("/v2/models/nope/infer", json=oip_columns(x.head(1)))
    assert r.status_code == 404 and "'nope' is not served" in r.json()["error"]
    r = client.post("/v2/models/clf/versions/7/infer", json=oip_columns(x.head(1)))
    assert r.status_code == 404 and "(serving: 1)" in r.json()["error"]
    assert client.get("/v2/models/clf/versions/7").status_code == 404
    assert client.get("/v2/models/nope/ready").status_code == 404
    assert client.post("/models/nope/invocations", json={"instances": [1]}).status_code == 404


def test_a_failing_request_gets_its_own_400(client: TestClient) -> None:
    good = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}
    bad = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [3, -1]}]}
    assert client.post("/v2/models/picky/infer", json=good).json()["outputs"][0]["data"] == [
        2.0,
        4.0,
    ]
    r = client.post("/v2/models/picky/infer", json=bad)
    assert r.status_code == 400
    assert (
        "version 1 failed on this input: ValueError: x must not be negative, got -1"
        in (r.json()["error"])
    )


# ---- MLflow's scoring protocol ---------------------------------------------------------------


def test_mlflow_ping_and_every_body_format(client: TestClient) -> None:
    assert client.get("/ping").status_code == 200 and client.get("/health").status_code == 200
    x, _ = table()
    head = x.head(4)
    expected = {"predictions": pipeline().predict(head).tolist()}
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": head.to_numpy().tolist()}},
        {"dataframe_records": head.to_dict(orient="records")},
        {"instances": head.to_dict(orient="records")},
        {"instances": head.to_numpy().tolist()},
        {"inputs": head.to_dict(orient="list")},
    ]
    for body in bodies:
        r = client.post("/invocations", json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json() == expected
    csv = head.to_csv(index=False).encode()
    r = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert r.json() == expected
    r = client.post("/models/picky/invocations", json={"inputs": {"x": [1, 2]}})
    assert r.json() == {"predictions": [2.0, 4.0]}


def test_mlflow_errors_name_the_problem(client: TestClient) -> None:
    records = [{"a": 1, "b": 2, "c": 3}]
    r = client.post("/invocations", json={"dataframe_records": records})
    assert r.status_code == 400
    assert r.json() == {
        "error_code": "BAD_REQUEST",
        "message": "missing input 'd' (FP64, shape [-1])",
    }
    r = client.post("/invocations", json={"columns": COLUMNS})
    assert r.status_code == 400 and "exactly one of dataframe_split" in r.json()["message"]


# ---- docs and metrics ----------------------------------------------------------------------


def test_docs_and_openapi_describe_each_model(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v2/models/clf/infer" in spec["paths"]
    schema = spec["paths"]["/v2/models/clf/infer"]["post"]["requestBody"]
    assert "inputs" in json.dumps(schema)
    page = client.get("/docs")
    assert page.status_code == 200 and "/v2/models/clf/infer" in page.text


def test_metrics_count_requests_by_model_version_and_status(client: TestClient) -> None:
    x, _ = table()
    client.post("/v2/models/clf/infer", json=oip_columns(x.head(3)))
    client.post("/v2/models/clf/infer", json={"inputs": []})
    text = client.get("/metrics").text
    ok = 'assay_serving_requests_total{arm="production",model="clf",status="200",version="1"}'
    assert ok in text
    assert 'assay_serving_requests_total{arm="",model="clf",status="400",version="1"}' in text
    for name in ("request_seconds", "batch_rows", "queue_rows", "stage_seconds"):
        assert f"assay_serving_{name}" in text
    assert 'stage="predict"' in text and 'stage="parse"' in text


# ---- the batching core -----------------------------------------------------------------------


def fake_model(delay: float = 0.0, calls: list[int] | None = None) -> LoadedModel:
    """Doubles x; records each call's row count; a negative x fails the whole call."""

    def predict(rows: Rows, wanted: Any) -> dict[str, np.ndarray]:
        x = rows["x"]
        if calls is not None:
            calls.append(len(x))
        if delay:
            time.sleep(delay)
        if (x < 0).any():
            raise ValueError("negative x")
        return {"predict": x * 2}

    signature = Signature((TensorSpec("x", "FP64", (-1,)),))
    return LoadedModel(
        name="fake",
        version="1",
        uri="models:/fake/1",
        flavour="python",
        signature=signature,
        predictor=Predictor(predict, ("predict",)),
        digest="digest",
    )


def slot_of(model: LoadedModel) -> Slot:
    return Slot(Target("models:/fake/1", "fake", "1", True), model)


def test_concurrent_callers_each_get_exactly_their_rows() -> None:
    calls: list[int] = []

    async def scenario() -> list[Answer]:
        batcher = Batcher(slot_of(fake_model(0.002, calls)), Limits(max_batch_size=16))
        batcher.start()
        try:
            jobs = [
                batcher.submit({"x": np.arange(i, i + 1 + i % 3, dtype=float)}, 1 + i % 3)
                for i in range(60)
            ]
            return list(await asyncio.gather(*jobs))
        finally:
            await batcher.stop()

    answers = asyncio.run(scenario())
    for i, answer in enumerate(answers):
        assert answer.outputs["predict"].tolist() == [2.0 * v for v in range(i, i + 1 + i % 3)]
    assert sum(calls) == sum(1 + i % 3 for i in range(60))
    assert max(calls) > 3  # requests were predicted together
    assert max(calls) <= 16  # and never more rows than the limit


def test_a_failing_row_fails_only_its_request() -> None:
    async def scenario() -> list[Any]:
        batcher = Batcher(slot_of(fake_model(0.002)), Limits())
        batcher.start()
        try:
            values = [[1.0], [2.0, -5.0], [3.0], [4.0]] * 5
            jobs = [batcher.submit({"x": np.array(v)}, len(v)) for v in values]
            return list(await asyncio.gather(*jobs, return_exceptions=True))
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    for i, result in enumerate(results):
        if i % 4 == 1:
            assert isinstance(result, assay.errors.InvalidInput)
            assert "failed on this input: ValueError: negative x" in str(result)
        else:
            assert isinstance(result, Answer)
            assert result.outputs["predict"].tolist() == [2.0 * (i % 4 + 1)]


def test_big_requests_are_predicted_in_chunks_of_the_limit() -> None:
    calls: list[int] = []

    async def scenario() -> Answer:
        batcher = Batcher(slot_of(fake_model(0, calls)), Limits(max_batch_size=8))
        batcher.start()
        try:
            return await batcher.submit({"x": np.arange(20.0)}, 20)
        finally:
            await batcher.stop()

    answer = asyncio.run(scenario())
    assert answer.outputs["predict"].tolist() == [2.0 * v for v in range(20)]
    assert calls == [8, 8, 4]


def test_overload_is_refused_with_retry_after_not_queued() -> None:
    limits = Limits(max_batch_size=1, max_latency_s=0.001, max_queue_s=0.1)

    async def scenario() -> list[Any]:
        batcher = Batcher(slot_of(fake_model(0.05)), limits)
        batcher.start()
        try:
            await batcher.submit({"x": np.array([1.0])}, 1)  # measures the cost of a call
            jobs = [batcher.submit({"x": np.array([float(i)])}, 1) for i in range(30)]
            return list(await asyncio.gather(*jobs, return_exceptions=True))
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    refused = [r for r in results if isinstance(r, Busy)]
    served = [r for r in results if isinstance(r, Answer)]
    assert refused and served and len(refused) + len(served) == 30
    assert all(r.retry_after >= 1 and "overloaded" in str(r) for r in refused)


def test_threads_posting_at_once_each_get_their_rows(client: TestClient) -> None:
    results: dict[int, Any] = {}

    def call(i: int) -> None:
        body = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [i, i + 1]}]}
        results[i] = client.post("/v2/models/picky/infer", json=body).json()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, body in results.items():
        assert body["outputs"][0]["data"] == [2.0 * i, 2.0 * (i + 1)]
    assert len(results) == 24


# ---- alias moves -----------------------------------------------------------------------------


def test_an_alias_move_swaps_versions_and_a_bad_version_keeps_the_old(store_uri: str) -> None:
    config = ServeConfig(models=("models:/clf@production",), uri=store_uri, poll_interval=0)
    x, _ = table()
    v2 = log_and_register(store_uri, pipeline(seed=1), "clf", alias=None)
    with TestClient(create_app(config)) as c:
        slot = c.app.state.serving.models["clf"].slot  # type: ignore[attr-defined]
        watcher = Watcher(store_uri, [slot], None, False)
        store = open_store(store_uri)
        try:
            watcher.check(store, slot)  # nothing moved: nothing happens
            assert slot.current.version == "1" and slot.swaps == 0
            assay.models.set_alias("clf", "production", v2, reason="better", uri=store_uri)
            watcher.check(store, slot)
            r = c.post("/v2/models/clf/infer", json=oip_columns(x.head(3)))
            assert r.json()["model_version"] == "2"
            assert r.json()["outputs"][0]["data"] == pipeline(seed=1).predict(x.head(3)).tolist()

            v3 = log_and_register(
                store_uri, Broken(), "clf", alias=None, flavour="python", metadata=PICKY_META
            )
            assay.models.set_alias("clf", "production", v3, uri=store_uri)
            watcher.check(store, slot)
            assert slot.current.version == "2"
            meta = c.get("/v2/models/clf").json()
            assert meta["versions"] == ["2"]
            assert "version 3 failed to load" in meta["parameters"]["load_error"]
            assert "cannot be loaded" in meta["parameters"]["load_error"]
            r = c.post("/v2/models/clf/infer", json=oip_columns(x.head(1)))
            assert r.status_code == 200 and r.json()["model_version"] == "2"
        finally:
            store.close()


def test_fixed_versions_are_not_watched() -> None:
    from assay.serving.loader import target

    assert target("models:/clf@production").moves
    assert target("models:/clf").moves  # latest
    assert not target("models:/clf/3").moves
    assert not target("proj/clf-model:v2").moves
    assert target("proj/clf-model:gold").moves


def test_cli_registers_serve() -> None:
    from click.testing import CliRunner

    from assay.cli.main import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "--max-batch-size" in result.output


def test_integer_inputs_take_whole_floats_and_refuse_fractions(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    meta = {
        "signature": {"inputs": [{"name": "x", "datatype": "INT64", "shape": [-1]}]},
        "input_example": {"x": [1]},
    }
    log_and_register(uri, Picky(), "counts", flavour="python", metadata=meta)
    config = ServeConfig(models=("models:/counts@production",), uri=uri, poll_interval=0)
    with TestClient(create_app(config)) as c:
        r = c.post("/invocations", json={"dataframe_split": {"columns": ["x"], "data": [[2.0]]}})
        assert r.json() == {"predictions": [4]}
        body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.5]}]}
        r = c.post("/v2/models/counts/infer", json=body)
        assert r.status_code == 400 and r.json()["error"] == "input 'x': expected INT64, got FP64"


def test_requests_checked_before_a_swap_are_predicted_by_the_old_version() -> None:
    old, new = fake_model(0.002), fake_model(0.002)
    new = LoadedModel(
        name="fake",
        version="2",
        uri="models:/fake/2",
        flavour="python",
        signature=new.signature,
        predictor=new.predictor,
        digest="digest-2",
    )
    slot = slot_of(old)

    async def scenario() -> list[Answer]:
        batcher = Batcher(slot, Limits())
        batcher.start()
        try:
            before = [batcher.submit({"x": np.array([1.0])}, 1) for _ in range(5)]
            first = asyncio.gather(*before)
            await asyncio.sleep(0)
            slot.current = new  # what the watcher does
            after = [batcher.submit({"x": np.array([1.0])}, 1) for _ in range(5)]
            return [*await first, *await asyncio.gather(*after)]
        finally:
            await batcher.stop()

    answers = asyncio.run(scenario())
    assert [a.model.version for a in answers] == ["1"] * 5 + ["2"] * 5


class FailsOnce:
    """A recorder that breaks the first call (a fault of the server, not of a request)."""

    def __init__(self) -> None:
        self.failed = False

    def batch(self, model: LoadedModel, rows: int, seconds: float) -> None:
        pass

    def waited(self, model: LoadedModel, seconds: float) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("recorder broke")

    def depth(self, name: str, rows: int) -> None:
        pass


def test_a_fault_in_the_batcher_answers_its_callers_and_the_next_calls_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[Any, Answer]:
        batcher = Batcher(slot_of(fake_model()), Limits(), FailsOnce())
        batcher.start()
        try:
            first = await asyncio.gather(
                batcher.submit({"x": np.array([1.0])}, 1), return_exceptions=True
            )
            return first[0], await batcher.submit({"x": np.array([2.0])}, 1)
        finally:
            await batcher.stop()

    failed, later = asyncio.run(scenario())
    assert isinstance(failed, RuntimeError) and "recorder broke" in str(failed)
    assert later.outputs["predict"].tolist() == [4.0]
    assert "predicting a batch of fake failed" in caplog.text


def test_an_artifact_reference_is_served_under_the_artifact_name(store_uri: str) -> None:
    config = ServeConfig(models=("serve/clf-model:latest",), uri=store_uri, poll_interval=0)
    x, _ = table()
    with TestClient(create_app(config)) as c:
        meta = c.get("/v2/models/clf-model").json()
        assert meta["versions"] == ["0"] and meta["parameters"]["uri"] == "serve/clf-model:v0"
        r = c.post("/v2/models/clf-model/versions/0/infer", json=oip_columns(x.head(2)))
        assert r.json()["model_version"] == "0"


def test_serve_checks_its_arguments_before_starting() -> None:
    from assay.serving import serve

    with pytest.raises(assay.errors.InvalidInput, match="workers"):
        serve("models:/clf@production", workers=0)
    with pytest.raises(assay.errors.InvalidInput, match="max-batch-size"):
        ServeConfig(models=("models:/clf/1",), max_batch_size=0)
    with pytest.raises(assay.errors.InvalidInput, match="two served models are named 'a'"):
        ServeConfig(models=("models:/a/1", "models:/a@x"))


def test_a_body_over_the_size_limit_is_413(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.serving import http

    monkeypatch.setattr(http, "MAX_BODY", 100)
    x, _ = table()
    r = client.post("/v2/models/clf/infer", json=oip_columns(x.head(5)))
    assert r.status_code == 413 and "the limit is 100" in r.json()["error"]
    r = client.post("/invocations", json={"instances": x.head(5).to_numpy().tolist()})
    assert r.status_code == 413 and "the limit is 100" in r.json()["message"]


def test_the_watcher_finds_the_default_store_and_survives_a_removed_alias() -> None:
    from assay.serving.metrics import Metrics
    from assay.serving.state import load_all, make_watcher

    uri = os.environ["ASSAY_URI"]  # what --uri defaults to
    log_and_register(uri, Picky(), "picky", flavour="python", metadata=PICKY_META)
    v2 = log_and_register(
        uri, Picky(delay=0.001), "picky", alias=None, flavour="python", metadata=PICKY_META
    )
    config = ServeConfig(models=("models:/picky@production",))
    slots, _ = load_all(config)
    watcher = make_watcher(config, list(slots.values()), Metrics())
    assert watcher is not None
    assay.models.set_alias("picky", "production", v2)
    store = watcher.poll()
    try:
        assert slots["picky"].current.version == "2" and slots["picky"].swaps == 1
        assay.models.set_alias("picky", "production", None)
        watcher.poll(store)
        assert slots["picky"].current.version == "2"
        assert "version 2 keeps serving" in str(slots["picky"].error)
    finally:
        store.close()


def test_rows_per_call_come_from_the_measured_cost_and_the_budget() -> None:
    from assay.serving.cost import Cost

    cost = Cost()
    assert cost.limit(Limits(max_batch_size=1024)) == 1024  # nothing measured yet
    for _ in range(8):
        cost.add(1, 0.001)
        cost.add(101, 0.002)  # 1 ms a call and 10 µs a row
    assert cost.limit(Limits(max_batch_size=1024, max_latency_s=0.005)) in (399, 400)
    assert cost.limit(Limits(max_batch_size=64, max_latency_s=0.005)) == 64
    # a budget below one call's cost: as many rows as cost at most twice one row
    assert cost.limit(Limits(max_batch_size=1024, max_latency_s=0.0001)) in (100, 101)
    size = cost.limit(Limits(max_batch_size=1024, max_latency_s=0.005))
    assert cost.wait(2 * size, Limits(max_batch_size=1024, max_latency_s=0.005)) == pytest.approx(
        2 * cost.of(size)
    )


def test_calls_of_one_size_do_not_lock_the_batch_at_that_size() -> None:
    """Calls that all took the same number of rows cannot tell a call's fixed cost from
    its cost per row: read as all per row, a 100-row call of 5 ms made 100 rows the most
    that fit 5 ms, so every call took one request and never measured another size (on a
    slow machine, 100-row requests were served one at a time at any concurrency). The
    next call may then take twice as many rows, and the two sizes separate the costs."""
    from assay.serving.cost import Cost

    limits = Limits(max_batch_size=1024, max_latency_s=0.005)
    cost = Cost()
    for _ in range(8):
        cost.add(100, 0.005)  # in truth 3 ms a call and 20 µs a row
    assert cost.limit(limits) == 200
    for _ in range(8):
        cost.add(200, 0.007)
    assert cost.fixed == pytest.approx(0.003) and cost.per_row == pytest.approx(0.00002)
    assert cost.limit(limits) in (151, 152)  # (2 x 3.02 ms - 3 ms) / 20 µs
