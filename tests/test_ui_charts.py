"""The charts' data route on both SQL backends: a constant number of queries however many
runs are charted (the series of 100 runs in one batched read), each series exactly as
written, and runs the caller may not read refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from assay.ids import new_run_id
from assay.records import Batch
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.store.sql.store import SqlStore
from tests.conftest import SQL_BACKENDS, create_op, points


@pytest.fixture(params=SQL_BACKENDS)
def app_config(request: pytest.FixtureRequest, tmp_path: Path) -> ServerConfig:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        return ServerConfig(url, blobs=str(tmp_path / "blobs"), local=True)
    return ServerConfig(str(tmp_path / "s"), local=True)


def write_run(store: SqlStore, i: int, project: str = "charts") -> str:
    """A run of ``loss`` (two batches: steps 0..9, then 5..14 rewritten, so the last write
    wins), ``acc`` and ``system/cpu``."""
    run_id = new_run_id()
    first = [
        create_op(project=project, name=f"r{i}"),
        points("loss", range(10), [float(i * 100 + s) for s in range(10)]),
        points("acc", [0, 1], [0.5, 0.5 + i / 1000]),
        points("system/cpu", [0], [10.0]),
    ]
    again = [points("loss", range(5, 15), [float(-i * 100 - s) for s in range(5, 15)])]
    for seq, ops in enumerate((first, again)):
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=seq, ops=ops))  # type: ignore[arg-type]
    return run_id


@contextmanager
def statements(store: SqlStore) -> Iterator[list[str]]:
    """The queries (SELECTs) the store runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            seen.append(str(args[2]))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)


def series_post(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    if "assay_csrf" not in client.cookies:
        client.get("/login")  # the CSRF cookie
    response = client.post(
        "/ui/api/series", json=body, headers={"x-csrf-token": client.cookies["assay_csrf"]}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_chart_data_of_100_runs_is_one_batched_read(app_config: ServerConfig) -> None:
    """The route cost five queries per run (its project, its record, tags, summaries,
    history); now it costs the same for 100 runs as for one, and the series come from
    one query of the chunk table."""
    app = create_app(app_config)
    store = app.state.assay.store
    ids = [write_run(store, i) for i in range(100)]
    client = TestClient(app, base_url="http://assay.test")
    series_post(client, {"runs": ids[:1], "kind": "user"})  # warm: the app's first queries
    with statements(store) as one:
        series_post(client, {"runs": ids[:1], "kind": "user"})
    with statements(store) as hundred:
        data = series_post(client, {"runs": ids, "kind": "user"})
    assert len(hundred) == len(one) <= 4
    assert sum("metric_chunks" in s for s in hundred) == 1
    assert data["keys"] == ["acc", "loss"] and data["matched"] == 2
    assert len(data["series"]) == 200
    assert [s["run"] for s in data["series"][::2]] == ids  # in the order asked for
    assert set(data["runs"]) == set(ids) and data["runs"][ids[7]]["name"] == "r7"


def test_batched_series_are_each_run_s_own_last_writes_win(app_config: ServerConfig) -> None:
    app = create_app(app_config)
    store = app.state.assay.store
    ids = [write_run(store, i) for i in range(3)]
    client = TestClient(app, base_url="http://assay.test")
    data = series_post(client, {"runs": ids, "keys": ["loss"]})
    by_run = {s["run"]: s for s in data["series"]}
    for i, run_id in enumerate(ids):
        expected = [float(i * 100 + s) for s in range(5)] + [
            float(-i * 100 - s) for s in range(5, 15)
        ]
        assert by_run[run_id]["steps"] == list(range(15))
        assert by_run[run_id]["values"] == expected
    window = series_post(client, {"runs": ids, "keys": ["loss"], "start": 3, "end": 6})
    assert [s["steps"] for s in window["series"]] == [[3, 4, 5, 6]] * 3
    assert window["series"][1]["values"] == [103.0, 104.0, -105.0, -106.0]
    late = series_post(client, {"runs": ids, "keys": ["loss"], "start": 12})
    assert [s["steps"] for s in late["series"]] == [[12, 13, 14]] * 3
    system = series_post(client, {"runs": ids, "kind": "system"})
    assert system["keys"] == ["system/cpu"] and len(system["series"]) == 3


def test_store_series_of_many_runs_downsamples_each(app_config: ServerConfig) -> None:
    store = open_app_store(app_config)
    ids = []
    for i in range(4):
        run_id = new_run_id()
        ops = [create_op(project="long", name=f"l{i}"), points("x", np.arange(5000), np.ones(5000))]
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))  # type: ignore[arg-type]
        ids.append(run_id)
    found = store.runs.series(ids, ["x", "absent"], points=100)
    assert sorted(found) == sorted((r, "x") for r in ids)
    assert all(len(c.steps) <= 100 and c.steps[-1] == 4999 for c in found.values())
    assert store.runs.series([], ["x"]) == {} and store.runs.series(ids, []) == {}
    store.close()


def open_app_store(config: ServerConfig) -> SqlStore:
    if config.blobs:
        return SqlStore.from_url(config.uri, blobs=config.blobs)
    return SqlStore.embedded(Path(config.uri))


def test_chart_data_refuses_a_run_of_a_project_the_caller_may_not_read(tmp_path: Path) -> None:
    app = create_app(ServerConfig(str(tmp_path / "s"), local=False))
    auth, store = app.state.assay.auth, app.state.assay.store
    mine = [write_run(store, i) for i in range(3)]
    theirs = write_run(store, 9, project="secret")
    auth.add_user("vic")
    auth.grant("vic", "charts", "viewer")
    key = auth.create_key("vic")[1]
    client = TestClient(app, base_url="http://assay.test")
    client.get("/login")
    signed = client.post(
        "/login", data={"key": key, "csrf": client.cookies["assay_csrf"]}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert len(series_post(client, {"runs": mine, "keys": ["loss"]})["series"]) == 3
    csrf = {"x-csrf-token": client.cookies["assay_csrf"]}
    refused = client.post("/ui/api/series", json={"runs": [*mine, theirs]}, headers=csrf)
    assert refused.status_code == 403 and "secret" in refused.text
    absent = client.post("/ui/api/series", json={"runs": [*mine, "nosuchrun"]}, headers=csrf)
    assert absent.status_code == 404 and "nosuchrun" in absent.text
