"""`assay import mlflow`: an MLflow sqlite store and an mlruns folder written by the real
`mlflow` package, every metric point (several values at one step too), params, tags,
artifacts, a registered model with its alias; idempotent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from assay import digests
from assay.cli.main import cli
from assay.store import Store, open_store
from tests.services import free_port

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

SCRIPT = textwrap.dedent(
    """
    import sys, mlflow, numpy as np
    from sklearn.linear_model import LogisticRegression
    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("quickstart demo")
    with mlflow.start_run(run_name="good") as run:
        mlflow.log_params({"lr": 0.1, "depth": 3})
        for step in range(50):
            mlflow.log_metric("loss", 1 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        for value in (0.5, 0.6, 0.7):
            mlflow.log_metric("acc", value)  # no step: each at step 0
        mlflow.set_tags({"team": "vision", "mlflow.note.content": "a note"})
        mlflow.log_dict({"a": 1}, "configs/c.json")
        X = np.arange(20.0).reshape(10, 2)
        mlflow.sklearn.log_model(LogisticRegression().fit(X, X[:, 0] > 9), name="model")
        good = run.info.run_id
    with mlflow.start_run(run_name="bad") as run:
        mlflow.log_metric("loss", 9.0, step=0)
    mlflow.MlflowClient().set_terminated(run.info.run_id, "FAILED")
    version = mlflow.register_model(f"runs:/{good}/model", "clf")
    mlflow.MlflowClient().set_registered_model_alias("clf", "production", version.version)
    print(good)
    """
)


@pytest.fixture(scope="module", params=["sqlite", "mlruns"])
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp(f"mlflow-{request.param}")
    uri = f"sqlite:///{root / 'mlflow.db'}" if request.param == "sqlite" else str(root / "mlruns")
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    tracking = uri if request.param == "sqlite" else (root / "mlruns").as_uri()
    subprocess.run(
        [sys.executable, "-c", SCRIPT, tracking], cwd=root, env=env, check=True, timeout=600
    )
    return uri


def _by_name(store: Store, name: str) -> str:
    (run,) = [r for r in store.runs.list("quickstart-demo") if r.name == name]
    return run.id


def test_an_mlflow_store_imports_with_every_point_and_its_registry(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.importers.mlflow import import_mlflow

    monkeypatch.chdir(tmp_path)
    store = open_store(tmp_path / "store")
    done = import_mlflow(store, source)
    assert (done.experiments, done.runs, done.model_versions) == (2, 2, 1)  # with Default
    good = store.runs.get(_by_name(store, "good"))
    assert len(good.id) == 32 and good.status == "finished"
    assert good.config == {"lr": "0.1", "depth": "3"}
    assert "team=vision" in good.tags and good.notes == "a note"
    assert any(k.startswith("mlflow.tag:mlflow.") for k in good.host)
    history = store.runs.history(good.id)
    loss = history["loss"]
    assert np.array_equal(loss.steps, np.arange(50))
    assert np.allclose(loss.times, (1_700_000_000_000 + np.arange(50)) / 1000)
    assert history["acc"].values.tolist() == [0.5, 0.6, 0.7]  # three values at step 0, kept
    assert history["acc/mlflow_step"].values.tolist() == [0, 0, 0]
    assert store.runs.get(_by_name(store, "bad")).status == "failed"
    files = store.artifacts.versions("quickstart-demo", f"mlflow-{good.id}")
    assert files[0].run_id == good.id and files[0].file_count == 1
    model = store.models.get("clf")
    assert model.aliases == {"production": 1}
    assert store.models.version("clf", "production").artifact.file_count >= 2  # MLmodel...
    again = import_mlflow(store, source)
    assert again.runs == 2 and len(store.runs.list("quickstart-demo")) == 2
    assert len(store.models.versions("clf")) == 1 and len(store.models.alias_history("clf")) == 1
    assert len(store.runs.history(good.id)["acc"]) == 3
    assert not (tmp_path / "mlflow.db").exists()  # nothing written where the user stands
    store.close()


def test_the_cli_imports_from_a_tracking_uri(source: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["import", "mlflow", "--from", source, "--uri", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs" in result.output and "1 model versions" in result.output


def test_an_unreadable_source_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["import", "mlflow", "--from", str(tmp_path / "nope"), "--uri", str(tmp_path / "s")]
    )
    assert result.exit_code == 1 and "neither a tracking URI nor an mlruns folder" in result.output


@pytest.mark.slow
def test_a_tracking_server_imports_every_point_through_its_rest_api(tmp_path: Path) -> None:
    """The real MLflow client writes to a live tracking server (Assay's MLflow API, since
    MLflow's own server is not in the test extras); the import reads it over HTTP, and
    every point of every metric is what MLflow's client reads from the server."""
    from mlflow import MlflowClient

    from assay.importers.mlflow import import_mlflow
    from tests.test_server_e2e import ServerProcess

    server = ServerProcess(str(tmp_path / "served"), extra=("--local",)).start()
    try:
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(tmp_path)}
        subprocess.run(
            [sys.executable, "-c", SCRIPT, server.url], cwd=tmp_path, env=env, check=True
        )
        store = open_store(tmp_path / "store")
        done = import_mlflow(store, server.url, project="moved")
        again = import_mlflow(store, server.url, project="moved")
        client = MlflowClient(tracking_uri=server.url)
        experiments = [e.experiment_id for e in client.search_experiments()]
        served = {
            run.info.run_id: {
                key: [
                    (m.step, m.timestamp / 1000, m.value)
                    for m in client.get_metric_history(run.info.run_id, key)
                ]
                for key in run.data.metrics
            }
            for run in client.search_runs(experiments)
        }
    finally:
        server.stop()
    assert (done.runs, done.model_versions) == (2, 1) and again.runs == 2
    assert len(store.runs.list("moved")) == 2 and len(store.models.versions("clf")) == 1
    assert store.models.get("clf").aliases == {"production": 1}
    assert sum(len(points) for keys in served.values() for points in keys.values()) == 50 + 1 + 1
    for run_id, keys in served.items():
        history = store.runs.history(run_id)
        for key, points in keys.items():
            got = history[key]
            stored = zip(got.steps.tolist(), got.times.tolist(), got.values.tolist(), strict=True)
            assert list(stored) == [(s, pytest.approx(at), v) for s, at, v in points], key
    store.close()


@contextmanager
def mlflow_server(root: Path) -> Iterator[str]:
    """MLflow's own tracking server (``mlflow server``) on a loopback port, its runs in a
    sqlite store and its artifacts proxied into ``root``; stopped with its workers."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "HOME": str(root)}
    server = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its uvicorn workers are stopped with it, by group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while server.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert server.poll() is None, "mlflow server exited on start"
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def _files(client: Any, run_id: str, path: str = "") -> list[str]:
    found = []
    for entry in client.list_artifacts(run_id, path):
        found += _files(client, run_id, entry.path) if entry.is_dir else [entry.path]
    return found


@pytest.mark.slow
def test_mlflows_own_tracking_server_imports_point_by_point(tmp_path: Path) -> None:
    """The real MLflow client logs to a live ``mlflow server``; ``assay import mlflow
    --from http://...`` reads it over MLflow's REST API: each run's params, tags, notes
    and every metric point, its artifacts byte for byte, and the registered model with
    its version's files and alias, compared with what MLflow's client reads back."""
    from mlflow import MlflowClient
    from mlflow import artifacts as mlflow_artifacts

    (tmp_path / "mlflow").mkdir()
    with mlflow_server(tmp_path / "mlflow") as url:
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(tmp_path)}
        subprocess.run([sys.executable, "-c", SCRIPT, url], cwd=tmp_path, env=env, check=True)
        result = CliRunner().invoke(
            cli, ["import", "mlflow", "--from", url, "--uri", str(tmp_path / "store")]
        )
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(
            cli, ["import", "mlflow", "--from", url, "--uri", str(tmp_path / "store")]
        )
        assert again.exit_code == 0, again.output
        client = MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name("quickstart demo")
        served = client.search_runs([experiment.experiment_id])
        store = open_store(tmp_path / "store")
        for run in served:
            mine = store.runs.get(run.info.run_id)
            assert mine.project == "quickstart-demo" and mine.name == run.info.run_name
            assert mine.config == run.data.params
            tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
            assert {t for t in mine.tags} == {f"{k}={v}" for k, v in tags.items()}
            assert mine.notes == run.data.tags.get("mlflow.note.content")
            assert mine.created_at == run.info.start_time / 1000
            assert mine.finished_at == run.info.end_time / 1000
            assert mine.status == run.info.status.lower()
            history = store.runs.history(run.info.run_id)
            for key in run.data.metrics:
                points = client.get_metric_history(run.info.run_id, key)
                got = history[key]
                if len({m.step for m in points}) == len(points):
                    assert got.steps.tolist() == [m.step for m in points]
                else:  # several values at one step: in time order, MLflow's steps beside
                    assert history[f"{key}/mlflow_step"].values.tolist() == [m.step for m in points]
                assert got.values.tolist() == [m.value for m in points]
                assert got.times.tolist() == [m.timestamp / 1000 for m in points]
            names = _files(client, run.info.run_id)
            if not names:
                continue
            (version,) = store.artifacts.versions("quickstart-demo", f"mlflow-{run.info.run_id}")
            assert version.run_id == run.info.run_id
            folder = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "dl")))
            manifest = store.artifacts.manifest(version.id)
            stored = {f.path: f for f in manifest.files}
            assert sorted(stored) == sorted(names)
            for name in names:
                assert stored[name].digest == digests.of_bytes((folder / name).read_bytes())
        (model,) = client.search_registered_models()
        (mv,) = client.search_model_versions("name='clf'")
        mine_model = store.models.get("clf")
        assert mine_model.aliases == {a: int(v) for a, v in model.aliases.items()}
        assert mine_model.aliases == {"production": 1}
        registered = store.models.version("clf", "production")
        location = client.get_model_version_download_uri("clf", mv.version)  # mlflow-artifacts:
        source = Path(
            mlflow_artifacts.download_artifacts(
                artifact_uri=location,
                dst_path=str(tmp_path / "model"),
                tracking_uri=url,
            )
        )
        expected = {
            str(p.relative_to(source)): digests.of_bytes(p.read_bytes())
            for p in source.rglob("*")
            if p.is_file()
        }
        files = store.artifacts.manifest(registered.artifact.id).files
        assert {f.path: f.digest for f in files} == expected and "MLmodel" in expected
        assert len(store.runs.list("quickstart-demo")) == 2
        assert len(store.models.versions("clf")) == 1
        store.close()
