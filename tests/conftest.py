"""Shared fixtures. ``store`` is parametrised over every Store backend available here;
later backends (PostgreSQL, remote over ASGI) join ``BACKENDS``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.artifacts.artifact import Artifact, log_artifact
from assay.ids import new_run_id
from assay.records import (
    ArtifactVersion,
    Batch,
    CreateRun,
    EvalItem,
    EvaluationDraft,
    Points,
    UpdateRun,
)
from assay.sdk.settings import Settings
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.store import Store, open_store
from assay.store.http.store import RemoteStore
from assay.store.sql.store import SqlStore
from tests.services import create_database, postgres_cluster

SQL_BACKENDS = ["sqlite", "postgresql"]
BACKENDS = [*SQL_BACKENDS, "remote"]

# Runs in tests capture nothing slow and sample no system metrics unless a test asks.
QUIET = Settings(
    capture_git=False,
    capture_packages=False,
    capture_console=False,
    capture_code=False,
    system_metrics_interval=0,
    handle_signals=False,
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes to the user's ~/.assay or cache."""
    monkeypatch.setenv("ASSAY_URI", str(tmp_path / "default-store"))
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ASSAY_JOURNAL_DIR", raising=False)
    monkeypatch.delenv("ASSAY_HEARTBEAT_TIMEOUT", raising=False)


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    return str(tmp_path / "store")


StoreFactory = Callable[[], Store]


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the whole session (URL of its admin database)."""
    with postgres_cluster() as url:
        yield url


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database in the session's cluster."""
    admin = request.getfixturevalue("postgres")
    return create_database(admin, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    yield from _factory(request, tmp_path)


@pytest.fixture(params=SQL_BACKENDS)
def sql_store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    yield from _factory(request, tmp_path)


def _factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[Store] = []
    root = tmp_path / f"store-{request.param}"
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None

    def make() -> Store:
        if request.param == "sqlite":
            store: Store = open_store(root)
        elif request.param == "postgresql":
            assert url is not None
            store = SqlStore.from_url(url, blobs=root / "blobs")
        elif request.param == "remote":
            store = remote_store(root)
        else:  # pragma: no cover - a backend named but not built
            raise AssertionError(request.param)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def remote_store(root: Path, api_key: str | None = None) -> RemoteStore:
    """A RemoteStore talking to an in-process server (ASGI, no socket) over ``root``."""
    from starlette.testclient import TestClient

    app = create_app(ServerConfig(str(root), local=True))
    client = TestClient(app, base_url="http://assay.test")
    # FastAPI builds its routes' validators on the first request, muting a pydantic
    # warning with ``warnings.catch_warnings``, which is not thread-safe: two stores first
    # used from two threads at once could let the warning through (and warnings are
    # errors here). One unmatched request builds every route now, in this thread.
    client.get("/-/no-such-route")
    return RemoteStore("http://assay.test", api_key=api_key, client=client, retries=0)


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()


def create_op(**fields: Any) -> CreateRun:
    """A run's first op: project "p", run "r", now, and nothing else unless given."""
    base: dict[str, Any] = {
        "project": "p",
        "name": "r",
        "created_at": time.time(),
        "config": {},
        "tags": [],
        "notes": None,
        "group": None,
        "job_type": None,
        "host": {},
    }
    return CreateRun(**{**base, **fields})


def create_run(
    store: Store,
    *,
    project: str = "p",
    config: dict | None = None,
    tags: list[str] | None = None,
    name: str = "r",
    at: float | None = None,
) -> str:
    run_id = new_run_id()
    op = create_op(
        project=project,
        name=name,
        created_at=at or time.time(),
        config=config or {},
        tags=tags or [],
    )
    assert store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=[op]))
    return run_id


def points(
    key: str,
    steps: list[int] | np.ndarray,
    values: list[float] | np.ndarray,
    at: float | None = None,
) -> Points:
    s = np.asarray(steps, dtype="<i8")
    v = np.asarray(values, dtype="<f8")
    t = np.full(len(s), at or time.time(), dtype="<f8")
    return Points(key=key, steps=s.tobytes(), times=t.tobytes(), values=v.tobytes())


def finish_op(status: str = "finished") -> UpdateRun:
    return UpdateRun(at=time.time(), status=status)


# ---- artifacts, models and evaluations the tests share ------------------------------------


def artifact_files(tmp_path: Path, **contents: bytes) -> Path:
    root = tmp_path / "src"
    for name, data in contents.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def dataset_artifact(tmp_path: Path, data: bytes = b"a,b\n1,2\n") -> Artifact:
    art = Artifact("digits-train", type="dataset", metadata={"rows": 1})
    art.add_file(artifact_files(tmp_path, **{"train.csv": data}) / "train.csv")
    return art


def log_model(
    store: Store, tmp_path: Path, content: bytes, name: str = "digits-model"
) -> ArtifactVersion:
    folder = tmp_path / content.hex()[:8]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.bin").write_bytes(content)
    art = Artifact(name, type="model")
    art.add_dir(folder)
    return log_artifact(store=store, artifact=art, project="p", run_id=create_run(store))


def evaluation_draft(**changes: Any) -> EvaluationDraft:
    base = {
        "project": "p",
        "name": "suite",
        "model": "fn",
        "model_key": "k",
        "model_version_id": None,
        "dataset": "3 items",
        "dataset_digest": "d",
        "dataset_version_id": None,
        "baseline_id": None,
        "run_id": None,
        "verdict": "pass",
        "report": {"metrics": []},
        "items": [
            EvalItem(item_id="a", output={"x": [1, 2]}, scores={"acc": 1.0}),
            EvalItem(item_id="b", error="E: x"),
        ],
    }
    return EvaluationDraft(**{**base, **changes})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Let fixtures see whether the test failed (the browser tests save a screenshot)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
