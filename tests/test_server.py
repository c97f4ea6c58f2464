"""The server over ASGI (no socket): auth, roles, limits, wire formats, admin CLI."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from assay import wire
from assay.cli.main import cli
from assay.errors import Forbidden, LimitExceeded, NotFound, Unauthorized
from assay.ids import new_run_id
from assay.records import Batch
from assay.server import heap
from assay.server.app import create_app
from assay.server.config import ServerConfig
from assay.store.http.store import RemoteStore
from assay.store.sql.auth import SqlAuth
from assay.store.sql.store import SqlStore
from tests.conftest import create_op, points


class Team:
    """A server with auth on, two projects, and a user per role."""

    def __init__(self, root: Path, uri: str | None = None, **limits: Any) -> None:
        self.root = root
        blobs = str(root / "blobs") if uri else None
        self.config = ServerConfig(uri or str(root), blobs=blobs, local=False, **limits)
        self.app = create_app(self.config)
        self.client = TestClient(self.app, base_url="http://assay.test")
        self.auth: SqlAuth = self.app.state.assay.auth
        self.keys: dict[str, str] = {}
        for user, admin in (("root", True), ("ann", False), ("vic", False), ("bob", False)):
            self.auth.add_user(user, is_admin=admin)
            self.keys[user] = self.auth.create_key(user)[1]
        self.auth.grant("ann", "alpha", "writer")
        self.auth.grant("vic", "alpha", "viewer")
        self.auth.grant("bob", "beta", "writer")

    def store(self, user: str | None) -> RemoteStore:
        client = TestClient(self.app, base_url="http://assay.test")
        return RemoteStore(
            "http://assay.test", api_key=self.keys.get(user or "", ""), client=client, retries=0
        )

    def headers(self, user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[user]}"}


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path / "server")
    yield t
    t.client.close()


def new_run(project: str) -> Batch:
    op = create_op(project=project)
    return Batch(run_id=new_run_id(), writer="w", seq=0, ops=[op])


def test_health_needs_no_key(team: Team) -> None:
    assert team.client.get("/healthz").json() == {"status": "ok"}
    assert team.client.get("/readyz").json() == {"status": "ready"}


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_the_api_spec_and_docs_need_a_key_or_a_signed_in_browser(team: Team, path: str) -> None:
    assert team.client.get(path).status_code == 401
    assert team.client.get(path, headers=team.headers("bob")).status_code == 200
    browser = TestClient(
        team.app, base_url="http://assay.test", cookies={"assay_key": team.keys["vic"]}
    )
    assert browser.get(path).status_code == 200
    spec = team.client.get("/api/v1/openapi.json", headers=team.headers("vic")).json()
    assert "/api/v1/batches" in spec["paths"]


@pytest.mark.parametrize(
    "header", [None, "Bearer nonsense", "Bearer ak_000000000000_" + "x" * 40, "Basic abc"]
)
def test_every_route_but_health_needs_a_valid_key(team: Team, header: str | None) -> None:
    headers = {"authorization": header} if header else {}
    response = team.client.get("/api/v1/projects", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_key_stops_working(team: Team) -> None:
    key_id = team.keys["ann"].split("_")[1]
    assert team.client.get("/api/v1/whoami", headers=team.headers("ann")).status_code == 200
    team.auth.revoke_key(key_id)
    response = team.client.get("/api/v1/whoami", headers=team.headers("ann"))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_keys_are_stored_hashed_with_last_used_time(team: Team) -> None:
    engine = team.app.state.assay.store.engine
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("select secret_hash from api_keys").all()
    assert all(team.keys[u].split("_", 2)[2] not in {r[0] for r in rows} for u in team.keys)
    team.store("vic").runs.projects()
    info = {k.user: k for k in team.auth.list_keys()}
    assert info["vic"].last_used_at is not None and info["bob"].last_used_at is None


def test_writer_writes_viewer_reads_but_cannot_write(team: Team) -> None:
    batch = new_run("alpha")
    assert team.store("ann").runs.write_batch(batch)
    viewer = team.store("vic")
    assert viewer.runs.get(batch.run_id).project == "alpha"
    with pytest.raises(Forbidden, match="no writer role on any project"):
        viewer.runs.write_batch(
            Batch(run_id=batch.run_id, writer="w", seq=1, ops=[points("x", [0], [1.0])])
        )
    with pytest.raises(Forbidden):
        viewer.runs.write_batch(new_run("alpha"))


def test_a_key_for_one_project_cannot_read_another(team: Team) -> None:
    batch = new_run("alpha")
    team.store("ann").runs.write_batch(batch)
    bob = team.store("bob")
    with pytest.raises(Forbidden):
        bob.runs.get(batch.run_id)
    with pytest.raises(Forbidden):
        bob.runs.list("alpha")
    with pytest.raises(Forbidden):
        bob.runs.history(batch.run_id)
    with pytest.raises(Forbidden):
        bob.runs.series([batch.run_id], ["x"])
    with pytest.raises(Forbidden):
        bob.runs.write_batch(
            Batch(run_id=batch.run_id, writer="w", seq=1, ops=[points("x", [0], [1.0])])
        )
    assert [p.name for p in bob.runs.projects()] == []
    assert [p.name for p in team.store("root").runs.projects()] == ["alpha"]


def test_no_key_through_the_client_is_unauthorized(team: Team) -> None:
    with pytest.raises(Unauthorized):
        team.store(None).runs.projects()


def test_ingest_accepts_json_and_gzip(team: Team) -> None:
    batch = new_run("alpha")
    body = wire.encode(wire.IngestRequest([batch]), wire.JSON)
    headers = {
        **team.headers("ann"),
        "content-type": "application/json",
        "content-encoding": "gzip",
    }
    response = team.client.post("/api/v1/batches", content=gzip.compress(body), headers=headers)
    assert response.status_code == 200 and response.json() == {"applied": [True]}
    response = team.client.post(
        "/api/v1/batches",
        content=body,
        headers={**team.headers("ann"), "content-type": "application/json"},
    )
    assert response.json() == {"applied": [False]}  # idempotent by (run, writer, seq)


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (b"\x00\x01garbage", "application/msgpack", "do not decode"),
        (b'{"batches": [{"run_id": 3}]}', "application/json", "do not decode"),
        (b"not json", "application/json", "do not decode"),
    ],
)
def test_malformed_batches_are_a_clear_400(
    team: Team, body: bytes, content_type: str, needle: str
) -> None:
    response = team.client.post(
        "/api/v1/batches",
        content=body,
        headers={**team.headers("ann"), "content-type": content_type},
    )
    assert response.status_code == 400 and needle in response.json()["error"]["message"]


def test_many_blobs_go_and_come_back_through_a_server_with_a_small_body_limit(
    tmp_path: Path,
) -> None:
    team = Team(tmp_path / "s", max_body_bytes=100_000)
    blobs = [bytes([i]) * 30_000 for i in range(12)]  # 360 KB: several requests each way
    store = team.store("root")
    digests = store.blobs.put_many(blobs)
    assert store.blobs.missing(digests) == []
    assert store.blobs.get_many(digests[::-1]) == blobs[::-1]


def test_limits_give_json_errors_naming_the_limit(tmp_path: Path) -> None:
    team = Team(tmp_path / "s", max_body_bytes=10_000, max_batch_points=100)
    big = team.client.post("/api/v1/batches", content=b"x" * 20_000, headers=team.headers("ann"))
    assert big.status_code == 413 and "max_body_bytes=10000" in big.json()["error"]["message"]
    bomb = gzip.compress(b"{" + b" " * 50_000 + b"}")
    response = team.client.post(
        "/api/v1/batches",
        content=bomb,
        headers={
            **team.headers("ann"),
            "content-type": "application/json",
            "content-encoding": "gzip",
        },
    )
    assert response.status_code == 413 and "max_body_bytes" in response.json()["error"]["message"]
    batch = new_run("alpha")
    many = Batch(
        run_id=batch.run_id,
        writer="w",
        seq=0,
        ops=[*batch.ops, points("x", list(range(200)), [1.0] * 200)],
    )
    with pytest.raises(Exception, match="max_batch_points=100"):
        team.store("ann").runs.write_batch(many)
    long_key = Batch(
        run_id=batch.run_id, writer="w", seq=0, ops=[*batch.ops, points("k" * 300, [0], [1.0])]
    )
    with pytest.raises(Exception, match="longer than 256"):
        team.store("ann").runs.write_batch(long_key)
    page = team.client.get(
        "/api/v1/projects/alpha/runs", params={"limit": 5000}, headers=team.headers("ann")
    )
    assert page.status_code == 422 and "limit" in page.json()["error"]["message"]


def test_series_limits_name_themselves(tmp_path: Path) -> None:
    team = Team(tmp_path / "s", max_series=3, max_series_points=100)
    batch = new_run("alpha")
    team.store("ann").runs.write_batch(batch)
    store = team.store("vic")
    with pytest.raises(LimitExceeded, match="max_series=3"):
        store.runs.series([batch.run_id] * 2, ["a", "b"])
    with pytest.raises(LimitExceeded, match="max_series_points"):
        store.runs.series([batch.run_id], ["a"], points=500)
    assert store.runs.series([batch.run_id], ["a"], points=100) == {}


def test_unknown_route_and_method_are_json_errors(team: Team) -> None:
    assert (
        team.client.get("/api/v1/nothing", headers=team.headers("root")).json()["error"]["code"]
        == "not_found"
    )
    response = team.client.delete("/api/v1/projects", headers=team.headers("root"))
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_json_readers_get_json(team: Team) -> None:
    batch = new_run("alpha")
    team.store("ann").runs.write_batch(batch)
    response = team.client.get(f"/api/v1/runs/{batch.run_id}", headers=team.headers("vic"))
    assert response.headers["content-type"] == "application/json"
    assert response.json()["project"] == "alpha"


def test_blobs_are_read_through_the_project_that_holds_them(team: Team) -> None:
    """A large git diff goes to a blob the run holds: readers of its project read it;
    others, and a bare upload no project holds yet, answer as not stored."""
    diff = "+line\n" * 20_000
    op = create_op(project="alpha", host={"git": {"diff": diff}})
    batch = Batch(run_id=new_run_id(), writer="w", seq=0, ops=[op])
    team.store("ann").runs.write_batch(batch)
    digest = team.store("vic").runs.get(batch.run_id).host["git"]["diff_blob"]
    assert team.store("vic").blobs.get(digest).decode() == diff
    with pytest.raises(NotFound):
        team.store("bob").blobs.get(digest)
    loose = team.store("ann").blobs.put(b"not committed yet")
    assert team.store("root").blobs.get(loose) == b"not committed yet"
    with pytest.raises(NotFound):
        team.store("vic").blobs.get(loose)


def test_local_mode_refuses_a_public_host() -> None:
    result = CliRunner().invoke(cli, ["server", "--local", "--host", "0.0.0.0", "--uri", "/tmp/x"])
    assert result.exit_code == 1 and "refusing host '0.0.0.0'" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["server", "--workers", "0", "--uri", "/tmp/x"], "--workers must be at least 1"),
        (["server", "--uri", "http://elsewhere:5151"], "not a server"),
        (["ui", "--no-browser", "--uri", "postgresql://db/x"], "not an embedded store"),
    ],
)
def test_server_commands_refuse_bad_arguments(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and needle in result.output


def test_admin_cli_manages_users_keys_and_grants(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    run = CliRunner().invoke
    assert run(cli, ["users", "add", "ann", "--uri", uri]).exit_code == 0
    assert "exists already" in run(cli, ["users", "add", "ann", "--uri", uri]).output
    created = run(cli, ["keys", "create", "ann", "--label", "laptop", "--uri", uri])
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("ak_")
    assert run(cli, ["projects", "grant", "ann", "alpha", "writer", "--uri", uri]).exit_code == 0
    listing = run(cli, ["users", "ls", "--uri", uri]).output
    assert "ann" in listing and "alpha:writer" in listing
    auth = SqlAuth(SqlStore.embedded(tmp_path / "store").engine)
    assert auth.verify(key).user == "ann"
    key_id = key.split("_")[1]
    assert run(cli, ["keys", "revoke", key_id, "--uri", uri]).exit_code == 0
    with pytest.raises(Unauthorized):
        auth.verify(key)
    assert "no user named 'zed'" in run(cli, ["keys", "create", "zed", "--uri", uri]).output


def test_login_saves_the_key_with_mode_0600(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.store.http import credentials

    monkeypatch.setenv("ASSAY_CONFIG_DIR", str(tmp_path / "cfg"))
    path = credentials.save("http://assay.test/", team.keys["vic"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert credentials.key_for("http://assay.test") == team.keys["vic"]
    monkeypatch.setenv("ASSAY_API_KEY", "override")
    assert credentials.key_for("http://assay.test") == "override"
    assert json.loads(path.read_text()) == {"http://assay.test": team.keys["vic"]}


def test_wire_keeps_nan_in_msgpack() -> None:
    from assay.records import MetricSummary

    encoded = wire.encode(
        MetricSummary(last=float("nan"), min=1.0, max=2.0, count=3, last_step=4), wire.MSGPACK
    )
    decoded = msgspec.msgpack.decode(encoded, type=MetricSummary)
    assert decoded.last != decoded.last and decoded.count == 3


def test_artifact_and_registry_routes_enforce_roles(team: Team, tmp_path: Path) -> None:
    from assay.artifacts.artifact import Artifact, log_artifact

    (tmp_path / "w.bin").write_bytes(b"weights")
    art = Artifact("m", type="model")
    art.add_file(tmp_path / "w.bin")
    ann, vic, bob = team.store("ann"), team.store("vic"), team.store("bob")
    version = log_artifact(ann, art, "alpha")
    assert version.created_by == "user:ann"
    with pytest.raises(Forbidden, match="writer"):
        log_artifact(vic, art, "alpha")
    assert vic.artifacts.version("alpha", "m", "v0").id == version.id
    with pytest.raises(Forbidden):
        bob.artifacts.list("alpha")
    with pytest.raises(Forbidden):
        bob.artifacts.manifest(version.id)
    assert bob.artifacts.versions_by_id([version.id]) == []
    with pytest.raises(Forbidden):
        vic.artifacts.set_alias("alpha", "m", "gold", 0)
    with pytest.raises(Forbidden):
        vic.models.register(version.id, "clf")
    ann.models.register(version.id, "clf")
    with pytest.raises(Forbidden):
        vic.models.set_alias("clf", "production", 1)
    move = ann.models.set_alias("clf", "production", 1, reason="ok")
    assert move.actor == "user:ann"
    assert [m.name for m in vic.models.list()] == ["clf"]
    assert bob.models.list() == []
    with pytest.raises(Forbidden):
        bob.models.version("clf", "production")
    bad = team.client.post("/api/v1/artifacts", content=b"{", headers=team.headers("ann"))
    assert bad.status_code == 400 and "ArtifactDraft" in bad.json()["error"]["message"]


def test_a_server_process_freezes_its_startup_heap_and_collects_less_often() -> None:
    script = (
        "import gc; from assay.server import heap; heap.settle(); "
        "print(gc.get_freeze_count() > 10_000, gc.get_threshold()[0])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown == ["True", str(heap.YOUNG)]


def test_a_remote_test_store_builds_its_routes_before_any_thread_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI builds route validators lazily, muting a pydantic warning in a way that is
    # not thread-safe; the test helper must leave nothing to build on a later request.
    from fastapi._compat import v2

    from tests.conftest import remote_store

    store = remote_store(tmp_path / "s")
    built: list[object] = []
    original = v2.ModelField.__post_init__

    def counting(field: Any) -> None:
        built.append(field)
        original(field)

    monkeypatch.setattr(v2.ModelField, "__post_init__", counting)
    assert store.runs.projects() == []
    with pytest.raises(NotFound):
        store.runs.delete("no-such-run", with_artifacts=True)
    store.close()
    assert built == []
