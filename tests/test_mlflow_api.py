"""MLflow's own client against a live ``assay server`` (docs/mlflow.md): an unmodified
quickstart script (tests/mlflow_scripts/quickstart.py) logs, searches, uploads a model
and registers it; the results are read back with the MLflow client (by the script) and
with ``assay.Api`` (here), on SQLite and PostgreSQL, with Assay keys as MLflow's token
or basic-auth password."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

import assay
from assay.store.sql.auth import SqlAuth
from assay.store.sql.store import SqlStore
from tests.test_server_e2e import ServerProcess

pytest.importorskip("mlflow", reason="the MLflow client: pip install -e '.[mlflow-compat]'")

SCRIPTS = Path(__file__).parent / "mlflow_scripts"
PROJECT = "quickstart-demo"  # the experiment "quickstart demo" as an Assay project


class Team:
    """A server with auth on, a user ``ann`` (writer on the project) and her key."""

    def __init__(self, server: ServerProcess, key: str, outsider_key: str) -> None:
        self.server, self.key, self.outsider_key = server, key, outsider_key

    @property
    def url(self) -> str:
        return self.server.url


def _store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[SqlStore, str, tuple[str, ...]]:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        blobs = str(tmp_path / "blobs")
        return SqlStore.from_url(url, blobs=blobs), url, ("--blobs", blobs, "--auth")
    root = tmp_path / "store"
    return SqlStore.embedded(root), str(root), ("--auth",)


@pytest.fixture(params=["sqlite", "postgresql"])
def team(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Team]:
    store, uri, extra = _store(request.param, tmp_path, request)
    auth = SqlAuth(store.engine)
    auth.add_user("ann")
    auth.grant("ann", PROJECT, "writer")
    auth.grant("ann", "Default", "writer")
    auth.grant("ann", "client-api", "writer")
    auth.grant("ann", "not-yet", "viewer")
    auth.add_user("bob")
    key, outsider = auth.create_key("ann")[1], auth.create_key("bob")[1]
    store.close()
    server = ServerProcess(uri, extra=extra).start()
    yield Team(server, key, outsider)
    server.stop()


def run_script(name: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ASSAY_"))}
    clean.update(env, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", HOME=str(cwd))
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / name)], env=clean, cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_mlflow_quickstart_runs_unchanged_and_assay_reads_the_same_run(
    team: Team, tmp_path: Path
) -> None:
    env = {"MLFLOW_TRACKING_URI": team.url, "MLFLOW_TRACKING_TOKEN": team.key}
    seen = run_script("quickstart.py", env, tmp_path)

    # what MLflow's client read back
    assert seen["experiment_id"] == PROJECT and seen["experiment_name"] == PROJECT
    assert seen["status"] == "FINISHED" and seen["run_name"] == "baseline"
    assert seen["params"] == {"lr": "0.01", "optimizer": "adam", "layers": "3"}
    assert seen["metrics"] == {"loss": 0.02, "acc": 0.91, "f1": 0.88}
    assert {k: seen["tags"][k] for k in ("team", "stage", "owner", "mlflow.runName")} == {
        "team": "vision",
        "stage": "dev",
        "owner": "",
        "mlflow.runName": "baseline",
    }
    assert seen["history"] == [[s, 1.0 / (s + 1), 1_700_000_000_000 + s] for s in range(50)]
    assert seen["best_order"] == [seen["run_id"], seen["second_id"]]
    assert seen["vision"] == [seen["run_id"]]
    assert seen["named"] == [seen["second_id"]]
    assert seen["good"] == [seen["run_id"]]
    assert seen["artifacts"] == ["docs", "meta", "model", "notes.txt"]
    assert seen["docs"] == ["docs/notes.txt"]
    assert seen["text"] == "hello from mlflow\n"
    assert seen["version"] == "1" and seen["alias_version"] == "1"
    assert seen["prediction"] == [0, 1, 0, 1]

    # what Assay holds: the same run, its points, its files and its registry entry
    os.environ["ASSAY_API_KEY"] = team.key
    try:
        with closing(assay.Api(team.url)) as api:
            run = api.run(seen["run_id"])
            assert run.project == PROJECT and run.name == "baseline" and run.status == "finished"
            assert run.config == {"lr": "0.01", "optimizer": "adam", "layers": "3"}
            assert sorted(run.tags) == ["owner", "stage=dev", "team=vision"]
            assert run.created_at * 1000 == pytest.approx(seen["start_time"], abs=0.5)
            assert run.finished_at * 1000 == pytest.approx(seen["end_time"], abs=0.5)
            loss = run.history(keys=["loss"], format="numpy")["loss"]
            assert loss.steps.tolist() == list(range(50))
            assert loss.values.tolist() == [1.0 / (s + 1) for s in range(50)]
            assert [round(t * 1000) for t in loss.times] == [
                1_700_000_000_000 + s for s in range(50)
            ]
            assert run.metrics["acc"].last == 0.91 and run.metrics["acc"].last_step == 49
            found = api.runs(PROJECT, filter="'team=vision' in tags")
            assert [r.id for r in found] == [seen["run_id"]]
            tree = api.artifact(f"{PROJECT}/mlflow-{seen['run_id']}:latest")
            paths = [f.path for f in tree.manifest().files]
            assert {"notes.txt", "docs/notes.txt", "meta/classes.json", "model/MLmodel"} <= set(
                paths
            )
            assert tree.run_id == seen["run_id"]
            [registered] = api.models(PROJECT)
            assert registered.name == "quickstart-clf" and registered.aliases == {"champion": 1}
            [version] = api.model_versions("quickstart-clf")
            model_files = [f.path for f in api.artifact(version.artifact.ref).manifest().files]
            assert "MLmodel" in model_files and "requirements.txt" in model_files
            assert version.artifact.name == "quickstart-clf" and version.artifact.type == "model"
            assert version.artifact.run_id == seen["run_id"]
    finally:
        del os.environ["ASSAY_API_KEY"]


def call(
    team: Team, method: str, path: str, key: str | None = None, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{team.url}{path}", headers=headers, timeout=30, **kwargs)


@pytest.mark.slow
def test_errors_answer_in_mlflow_shape_with_mlflow_codes(team: Team) -> None:
    def error(response: httpx.Response) -> tuple[int, str]:
        body = response.json()
        assert set(body) == {"error_code", "message"} and body["message"]
        return response.status_code, body["error_code"]

    api = "/api/2.0/mlflow"
    assert error(call(team, "GET", f"{api}/experiments/get?experiment_id=x")) == (
        401,
        "UNAUTHENTICATED",
    )
    # a project ann may read that has no runs yet does not exist; one she may not read
    # is refused whether or not it exists (nothing can be probed)
    missing = call(team, "GET", f"{api}/experiments/get?experiment_id=client-api", team.key)
    assert error(missing) == (404, "RESOURCE_DOES_NOT_EXIST")
    for name in ("nope", PROJECT):
        probe = call(team, "GET", f"{api}/experiments/get?experiment_id={name}", team.outsider_key)
        assert error(probe) == (403, "PERMISSION_DENIED")
    created = call(team, "POST", f"{api}/experiments/create", team.key, json={"name": PROJECT})
    assert created.json() == {"experiment_id": PROJECT}
    again = call(team, "POST", f"{api}/experiments/create", team.key, json={"name": PROJECT})
    assert error(again) == (400, "RESOURCE_ALREADY_EXISTS")
    assert error(
        call(team, "GET", f"{api}/experiments/get?experiment_id={PROJECT}", team.outsider_key)
    ) == (
        403,
        "PERMISSION_DENIED",
    )
    run = call(team, "POST", f"{api}/runs/create", team.key, json={"experiment_id": PROJECT}).json()
    run_id = run["run"]["info"]["run_id"]
    bad = {"experiment_ids": [PROJECT], "filter": "metrics.acc > 'x'"}
    assert error(call(team, "POST", f"{api}/runs/search", team.key, json=bad)) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    like = {"experiment_ids": [PROJECT], "filter": "tags.team LIKE 'vis%'"}
    assert error(call(team, "POST", f"{api}/runs/search", team.key, json=like)) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    param = {"run_id": run_id, "key": "lr", "value": "0.1"}
    assert call(team, "POST", f"{api}/runs/log-parameter", team.key, json=param).json() == {}
    changed = {**param, "value": "0.2"}
    assert error(call(team, "POST", f"{api}/runs/log-parameter", team.key, json=changed)) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert error(
        call(
            team,
            "POST",
            f"{api}/runs/log-metric",
            team.key,
            json={"run_id": run_id, "key": "a", "value": "x"},
        )
    ) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # deleting is Assay's soft delete: the run reads as deleted until restored
    assert call(team, "POST", f"{api}/runs/delete", team.key, json={"run_id": run_id}).json() == {}
    got = call(team, "GET", f"{api}/runs/get", team.key, params={"run_id": run_id}).json()
    assert got["run"]["info"]["lifecycle_stage"] == "deleted"
    assert call(team, "POST", f"{api}/runs/restore", team.key, json={"run_id": run_id}).json() == {}
    got = call(team, "GET", f"{api}/runs/get", team.key, params={"run_id": run_id}).json()
    assert got["run"]["info"]["lifecycle_stage"] == "active"
    assert error(call(team, "GET", f"{api}/no-such-thing", team.key)) == (404, "ENDPOINT_NOT_FOUND")
    assert error(
        call(
            team,
            "POST",
            f"{api}/runs/log-batch",
            team.key,
            json={
                "run_id": run_id,
                "metrics": [{"key": "m", "value": 1, "timestamp": 0, "step": 0}] * 1001,
            },
        )
    ) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # the same routes answer under /ajax-api (MLflow's UI prefix)
    got = call(team, "GET", f"/ajax-api/2.0/mlflow/runs/get?run_id={run_id}", team.key)
    assert got.json()["run"]["data"]["params"] == [{"key": "lr", "value": "0.1"}]


@pytest.mark.slow
def test_mlflow_client_calls_experiments_batches_tags_inputs_and_paged_search(
    team: Team, tmp_path: Path
) -> None:
    # basic auth this time: MLflow's user name and password, the password an Assay key
    env = {
        "MLFLOW_TRACKING_URI": team.url,
        "MLFLOW_TRACKING_USERNAME": "ann",
        "MLFLOW_TRACKING_PASSWORD": team.key,
    }
    seen = run_script("client_api.py", env, tmp_path)
    assert seen["experiment_id"] == seen["found"] == "client-api"
    assert seen["missing"] is True and seen["listed"] == ["client-api"]
    assert seen["default_experiment"] == "0" and seen["default_status"] == "FINISHED"
    ids = seen["ids"]
    assert seen["pages"] == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    assert seen["failed"] == [ids[1]]
    start = seen["start_times"][0]
    assert seen["start_times"] == [start + i for i in range(5)]
    assert seen["failed_end"] == start + 50_000
    assert seen["tags"]["kind"] == "sweep" and seen["tags"]["i"] == "0"
    assert seen["tags"]["mlflow.note.content"] == "run 0" and "temp" not in seen["tags"]
    assert seen["changed"] == "INVALID_PARAMETER_VALUE"
    assert seen["datasets"] == ["toy"]
    assert seen["history"] == [[s, 4.0 * s, start + s] for s in range(3)]

    os.environ["ASSAY_API_KEY"] = team.key
    try:
        with closing(assay.Api(team.url)) as api:
            first = api.run(ids[0])
            assert first.notes == "run 0" and sorted(first.tags) == ["i=0", "kind=sweep"]
            assert api.run(ids[1]).status == "failed"
            assert [r.id for r in api.runs("client-api", order_by=["-summary.score"])] == ids[::-1]
            assert api.runs("Default")[0].name == "in-default"
    finally:
        del os.environ["ASSAY_API_KEY"]


@pytest.mark.slow
def test_history_bulk_interval_downsamples_each_run_within_a_step_range(team: Team) -> None:
    api = "/api/2.0/mlflow"
    run = call(team, "POST", f"{api}/runs/create", team.key, json={"experiment_id": "0"}).json()
    run_id = run["run"]["info"]["run_id"]
    metrics = [
        {"key": "m", "value": float(s), "timestamp": 1000 + s, "step": s} for s in range(1000)
    ]
    logged = call(
        team, "POST", f"{api}/runs/log-batch", team.key, json={"run_id": run_id, "metrics": metrics}
    )
    assert logged.status_code == 200, logged.text
    query = {
        "run_ids": [run_id],
        "metric_key": "m",
        "start_step": 100,
        "end_step": 199,
        "max_results": 10,
    }
    got = call(
        team, "GET", f"{api}/metrics/get-history-bulk-interval", team.key, params=query
    ).json()
    steps = [p["step"] for p in got["metrics"]]
    assert 0 < len(steps) <= 10 and min(steps) == 100 and max(steps) == 199
    assert all(
        p["value"] == p["step"] and p["timestamp"] == 1000 + p["step"] for p in got["metrics"]
    )
    assert {p["run_id"] for p in got["metrics"]} == {run_id}
    bulk = call(
        team,
        "GET",
        f"{api}/metrics/get-history-bulk",
        team.key,
        params={"run_id": [run_id], "metric_key": "m", "max_results": 5},
    ).json()
    assert [(p["step"], p["value"], p["timestamp"]) for p in bulk["metrics"]] == [
        (s, float(s), 1000 + s) for s in range(5)
    ]


def test_assay_ui_serves_the_mlflow_api_locally_and_keeps_its_write_guard(tmp_path: Path) -> None:
    """``assay ui`` (local mode, no keys): MLflow's client needs no token; an artifact PUT
    with the file's own type passes, a cross-site-sendable POST does not."""
    from starlette.testclient import TestClient

    from assay.server.app import create_app
    from assay.server.config import LOOPBACK_HOSTS, ServerConfig

    app = create_app(ServerConfig(str(tmp_path / "store"), local=True, hosts=LOOPBACK_HOSTS))
    with TestClient(app, base_url="http://127.0.0.1:5151") as client:
        api = "/ajax-api/2.0/mlflow"
        run = client.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]
        uri = run["info"]["artifact_uri"]
        assert uri == f"mlflow-artifacts:/Default/{run['info']['run_id']}/artifacts"
        tree = uri.removeprefix("mlflow-artifacts:/")
        path = f"/api/2.0/mlflow-artifacts/artifacts/{tree}"
        put = client.put(f"{path}/a.txt", content=b"hi", headers={"content-type": "text/plain"})
        assert put.status_code == 200, put.text
        assert client.get(f"{path}/a.txt").content == b"hi"
        listed = client.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": tree})
        assert listed.json() == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 2}]}
        sneaky = client.post(
            f"{api}/runs/create",
            content=b'{"experiment_id": "0"}',
            headers={"content-type": "text/plain"},
        )
        assert sneaky.status_code == 415
        with closing(assay.Api(tmp_path / "store")) as local:
            [found] = local.runs("Default")
            assert found.id == run["info"]["run_id"]


@pytest.mark.slow
def test_nan_metrics_and_multiline_tags_round_trip(team: Team) -> None:
    api = "/api/2.0/mlflow"
    run = call(team, "POST", f"{api}/runs/create", team.key, json={"experiment_id": "0"}).json()
    run_id = run["run"]["info"]["run_id"]
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "nan", "value": "NaN", "timestamp": 5000, "step": 0},
            {"key": "inf", "value": "Infinity", "timestamp": 5000, "step": 0},
        ],
        "tags": [{"key": "about", "value": "line one\nline two"}],
    }
    logged = call(team, "POST", f"{api}/runs/log-batch", team.key, json=batch)
    assert logged.status_code == 200, logged.text
    got = call(team, "GET", f"{api}/runs/get", team.key, params={"run_id": run_id}).json()
    metrics = {m["key"]: m["value"] for m in got["run"]["data"]["metrics"]}
    assert metrics == {"nan": "NaN", "inf": "Infinity"}
    tags = {t["key"]: t["value"] for t in got["run"]["data"]["tags"]}
    assert tags["about"] == "line one\nline two"


@pytest.mark.slow
def test_basic_auth_takes_the_key_as_password_and_checks_the_user_name(team: Team) -> None:
    def basic(user: str, key: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    url = f"{team.url}/api/2.0/mlflow/experiments/search"
    assert httpx.post(url, json={}, headers=basic("ann", team.key)).status_code == 200
    assert httpx.post(url, json={}, headers=basic("", team.key)).status_code == 200
    wrong = httpx.post(url, json={}, headers=basic("bob", team.key))
    assert (wrong.status_code, wrong.json()["error_code"]) == (401, "UNAUTHENTICATED")
    bad = httpx.post(url, json={}, headers=basic("ann", "ak_not_a_key"))
    assert (bad.status_code, bad.json()["error_code"]) == (401, "UNAUTHENTICATED")
