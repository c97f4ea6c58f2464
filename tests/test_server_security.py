"""The server under attack: bad stored rows, oversized bodies, cross-site writes, project
boundaries, secrets in URLs. Each test reproduces a defect found by a deliberate attack."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from assay import wire
from assay.errors import Forbidden, NotFound
from assay.server.app import app_from_env, create_app
from assay.server.config import ServerConfig
from assay.store.sql.schema import log_lines, metric_summary, projects, runs
from tests.conftest import create_op
from tests.test_server import Team, new_run

BAD_TIMES = [1e18, -1e18, math.inf, -math.inf]


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path / "server")
    yield t
    t.client.close()


def _spoil(team: Team, run_id: str, bad: float) -> None:
    """Write an impossible time straight into the database, past every validation."""
    engine = team.app.state.assay.store.engine
    with engine.begin() as conn:
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(created_at=bad, updated_at=bad, heartbeat_at=bad, finished_at=bad)
        )
        conn.execute(projects.update().values(created_at=bad))
        conn.execute(
            metric_summary.update()
            .where(metric_summary.c.run_id == run_id)
            .values(last=1e308, min=-1e308, max=1e308, last_step=2**62)
        )
        conn.execute(log_lines.update().where(log_lines.c.run_id == run_id).values(at=bad))


@pytest.mark.parametrize("bad", BAD_TIMES, ids=repr)
def test_a_run_with_impossible_times_still_renders_every_page(tmp_path: Path, bad: float) -> None:
    _pages_render_with(Team(tmp_path / "server"), bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e18], ids=repr)
def test_a_run_with_impossible_times_on_postgresql_still_renders(
    tmp_path: Path, postgres_url: str, bad: float
) -> None:
    """SQLite turns NaN into NULL (refused by NOT NULL); PostgreSQL stores it."""
    team = Team(tmp_path / "server", uri=postgres_url)
    try:
        _pages_render_with(team, bad)
    finally:
        team.client.close()
        team.app.state.assay.close()


def _pages_render_with(team: Team, bad: float) -> None:
    from assay.records import LogLines
    from tests.conftest import points

    batch = new_run("alpha")
    batch.ops.extend(
        [points("loss", [0, 1], [1.0, 0.5]), LogLines(lines=[(time.time(), "stdout", "x")])]
    )
    team.store("ann").runs.write_batch(batch)
    _spoil(team, batch.run_id, bad)
    for user in ("root", "vic"):
        client = TestClient(
            team.app, base_url="http://assay.test", cookies={"assay_key": team.keys[user]}
        )
        for url in (
            "/",
            "/projects/alpha",
            f"/runs/{batch.run_id}",
            "/ui/projects/alpha/table",
            f"/ui/runs/{batch.run_id}/logs",
            f"/compare?runs={batch.run_id},{batch.run_id}",
        ):
            response = client.get(url, headers={"accept": "text/html"})
            assert response.status_code == 200, (user, url, response.text[:300])
        for url in (
            f"/api/v1/runs/{batch.run_id}",
            "/api/v1/projects/alpha/runs",
            "/api/v1/projects",
            f"/api/v1/runs/{batch.run_id}/logs",
        ):
            response = client.get(url, headers=team.headers(user))
            assert response.status_code == 200, (user, url, response.text[:300])


# ---- body limits on every route ----------------------------------------------------------

LIMIT = 1 << 20
CHUNK = 64 * 1024


def _routes_with_bodies(app: Any) -> list[tuple[str, str]]:
    found = []
    routes = []
    for entry in app.routes:  # included routers hold their routes, with the prefix
        inner = getattr(entry, "original_router", None)
        routes.extend(inner.routes if inner is not None else [entry])
    for route in routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                found.append((method, re.sub(r"\{[^}]+\}", "x", route.path)))
    return found


def _call(
    app: Any, method: str, path: str, headers: dict[str, str], body_size: int
) -> tuple[int, int]:
    """Send ``body_size`` bytes in chunks straight to the ASGI app; (status, bytes it read)."""
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read >= body_size:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += CHUNK
        return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    asyncio.run(app(scope, receive, send))
    return status, read


@pytest.fixture
def limited(tmp_path: Path) -> Team:
    return Team(tmp_path / "server", max_body_bytes=LIMIT)


def test_every_route_with_a_body_refuses_an_oversized_one_before_reading_it(
    limited: Team,
) -> None:
    routes = _routes_with_bodies(limited.app)
    assert ("POST", "/api/v1/series") in routes and ("PUT", "/api/v1/blobs") in routes
    assert ("POST", "/ui/runs/x/notes") in routes and ("POST", "/login") in routes
    auth = {**limited.headers("root"), "content-type": "application/json"}
    for method, path in routes:
        declared = {**auth, "content-length": str(64 * LIMIT)}
        status, read = _call(limited.app, method, path, declared, 64 * LIMIT)
        assert (status, read) == (413, 0), (method, path)


def test_every_route_stops_reading_a_chunked_body_at_the_limit(limited: Team) -> None:
    auth = {**limited.headers("root"), "content-type": "application/json"}
    for method, path in _routes_with_bodies(limited.app):
        status, read = _call(limited.app, method, path, auth, 64 * LIMIT)
        # say, no run x: 404 unread; or an MLflow operation Assay does not offer (501)
        declined = 400 <= status < 500 or (status == 501 and "/mlflow" in path)
        refused_first = declined and read == 0
        # a DELETE that takes no body (withdrawing a model server twice is harmless: 204)
        unread = method == "DELETE" and status == 204 and read == 0
        assert status == 413 or refused_first or unread, (method, path, status)
        assert read <= LIMIT + CHUNK, (method, path, read)


@pytest.mark.parametrize("user", [None, "stranger", "vic"])
def test_callers_without_a_role_are_refused_before_their_body_is_read(
    limited: Team, user: str | None
) -> None:
    """No key: 401; a key without any role (or only a viewer's, for writes): 403; both
    before a byte of a large chunked body is read."""
    limited.auth.add_user("stranger")
    limited.keys["stranger"] = limited.auth.create_key("stranger")[1]
    headers = {"content-type": "application/json"}
    if user:
        headers.update(limited.headers(user))
    writes = ["/api/v1/batches", "/api/v1/blobs", "/api/v1/blobs/batch", "/api/v1/artifacts"]
    writes.append("/api/v1/evaluations")
    reads = ["/api/v1/series", "/api/v1/blobs/missing", "/api/v1/blobs/read", "/api/v1/lineage"]
    for path in writes + ([] if user == "vic" else reads):
        method = "PUT" if path == "/api/v1/blobs" else "POST"
        status, read = _call(limited.app, method, path, headers, 16 * LIMIT)
        assert status == (401 if user is None else 403), (path, status)
        assert read == 0, path


# ---- a local server and the browser's other tabs -------------------------------------------


@pytest.fixture
def local_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A local server configured as `assay ui` and `assay server --local` configure it."""
    monkeypatch.setenv("ASSAY_SERVER_URI", str(tmp_path / "store"))
    monkeypatch.setenv("ASSAY_SERVER_LOCAL", "1")
    with TestClient(app_from_env(), base_url="http://localhost:5151") as client:
        yield client


def _run_body() -> bytes:
    return wire.encode(wire.IngestRequest([new_run("p")]), wire.JSON)


def _run_count(client: TestClient) -> int:
    return len(client.get("/api/v1/projects/p/runs").json()) if _has_project(client) else 0


def _has_project(client: TestClient) -> bool:
    return any(p["name"] == "p" for p in client.get("/api/v1/projects").json())


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_local_server_refuses_api_writes_a_cross_site_page_could_send(
    local_site: TestClient, kind: str | None
) -> None:
    """A no-cors fetch or a form can send only these types, without a preflight."""
    headers = {"content-type": kind} if kind else {}
    response = local_site.post("/api/v1/batches", content=_run_body(), headers=headers)
    assert response.status_code == 415, response.text
    assert _run_count(local_site) == 0
    ok = local_site.post(
        "/api/v1/batches", content=_run_body(), headers={"content-type": "application/json"}
    )
    assert ok.status_code == 200 and _run_count(local_site) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://localhost:8000"},  # same host, another port: another origin
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_a_local_server_refuses_writes_from_another_origin(
    local_site: TestClient, headers: dict[str, str]
) -> None:
    body = _run_body()
    response = local_site.post(
        "/api/v1/batches", content=body, headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "cross_origin"
    assert _run_count(local_site) == 0
    same = {"origin": "http://localhost:5151", "content-type": "application/json"}
    assert local_site.post("/api/v1/batches", content=body, headers=same).status_code == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:5151", "10.0.0.7:5151", "", "localhost:5151@evil.example"],
)
def test_a_local_server_answers_only_to_loopback_host_names(
    local_site: TestClient, host: str
) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: it reads nothing."""
    response = local_site.get("/api/v1/projects", headers={"host": host})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_host"
    page = local_site.get("/", headers={"host": host, "accept": "text/html"})
    assert page.status_code == 400


@pytest.mark.parametrize("host", ["localhost", "localhost:5151", "127.0.0.1:80", "[::1]:5151"])
def test_a_local_server_answers_to_loopback_names_with_any_port(
    local_site: TestClient, host: str
) -> None:
    assert local_site.get("/api/v1/projects", headers={"host": host}).status_code == 200


# ---- project boundaries ----------------------------------------------------------------------


def _alpha_artifact(team: Team, tmp_path: Path) -> tuple[str, str, str]:
    """ann logs a run and an artifact in alpha: (run id, version id, digest of its file)."""
    from assay.artifacts.artifact import Artifact, log_artifact

    (tmp_path / "secret.txt").write_bytes(b"alpha's secret weights")
    art = Artifact("m", type="model")
    art.add_file(tmp_path / "secret.txt")
    ann = team.store("ann")
    batch = new_run("alpha")
    ann.runs.write_batch(batch)
    version = log_artifact(ann, art, "alpha")
    ann.artifacts.record_use(batch.run_id, version.id)
    return batch.run_id, version.id, ann.artifacts.manifest(version.id).files[0].digest


def _age_blobs(team: Team) -> None:
    """As if every stored blob had last been uploaded a week ago."""
    from assay.store.sql.schema import blobs

    with team.app.state.assay.store.engine.begin() as conn:
        conn.execute(blobs.update().values(stored_at=time.time() - 7 * 24 * 3600))


def test_blobs_are_read_and_probed_only_through_a_project_the_caller_reads(
    team: Team, tmp_path: Path
) -> None:
    _, _, digest = _alpha_artifact(team, tmp_path)
    assert team.store("vic").blobs.get(digest) == b"alpha's secret weights"
    bob = team.client.get(f"/api/v1/blobs/{digest}", headers=team.headers("bob"))
    absent = team.client.get(f"/api/v1/blobs/{'0' * 64}", headers=team.headers("bob"))
    assert bob.status_code == absent.status_code == 404
    assert bob.json()["error"]["message"].replace(digest, "D") == absent.json()["error"][
        "message"
    ].replace("0" * 64, "D")
    with pytest.raises(NotFound, match=digest):  # many at once: the same answer
        team.store("bob").blobs.get_many([digest])
    assert team.store("vic").blobs.get_many([digest]) == [b"alpha's secret weights"]
    assert team.store("bob").blobs.missing([digest]) == [digest]  # as if it were not there
    assert team.store("vic").blobs.missing([digest]) == []
    assert team.store("root").blobs.missing([digest, "0" * 64]) == ["0" * 64]


def test_a_blob_another_project_holds_can_be_uploaded_again_and_committed(
    team: Team, tmp_path: Path
) -> None:
    """Same bytes in two projects: the second uploader is told 'missing', sends the bytes,
    and commits; then reads the blob through its own project."""
    from assay.artifacts.artifact import Artifact, log_artifact

    _, _, digest = _alpha_artifact(team, tmp_path)
    art = Artifact("copy", type="model")
    art.add_file(tmp_path / "secret.txt")
    version = log_artifact(team.store("bob"), art, "beta")
    assert team.store("bob").artifacts.manifest(version.id).files[0].digest == digest
    assert team.store("bob").blobs.get(digest) == b"alpha's secret weights"


def test_viewers_cannot_upload_blobs(team: Team) -> None:
    response = team.client.put(
        "/api/v1/blobs",
        content=b"x",
        headers={**team.headers("vic"), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 403
    with pytest.raises(Forbidden):
        team.store("vic").blobs.put_many([b"x", b"y"])
    assert team.store("ann").blobs.put(b"x")
    assert team.store("ann").blobs.put_many([b"x", b"y"])


def test_lineage_shows_only_edges_between_projects_the_caller_reads(
    team: Team, tmp_path: Path
) -> None:
    run_id, version_id, _ = _alpha_artifact(team, tmp_path)
    assert len(team.store("vic").artifacts.lineage_edges([run_id], [version_id])) == 1
    assert team.store("bob").artifacts.lineage_edges([run_id], [version_id]) == []


def test_every_run_creating_op_in_a_batch_needs_the_writer_role_on_its_project(
    team: Team,
) -> None:
    from assay.errors import Forbidden
    from assay.records import Batch

    batch = new_run("beta")  # bob writes to beta, and has no role on gamma
    sneaky = create_op(project="gamma")
    with pytest.raises(Forbidden, match="gamma"):
        team.store("bob").runs.write_batch(
            Batch(run_id=batch.run_id, writer="w", seq=0, ops=[*batch.ops, sneaky])
        )
    assert "gamma" not in [p.name for p in team.store("root").runs.projects()]
    alpha_run = new_run("alpha")
    team.store("ann").runs.write_batch(alpha_run)
    into_alpha = Batch(
        run_id=alpha_run.run_id,
        writer="w",
        seq=1,
        ops=[create_op(project="beta")],
    )
    with pytest.raises(Forbidden, match="alpha"):
        team.store("bob").runs.write_batch(into_alpha)


def test_a_run_page_shows_no_diff_from_a_blob_of_another_project(
    team: Team, tmp_path: Path
) -> None:
    from assay.records import Batch

    _, _, digest = _alpha_artifact(team, tmp_path)
    host = {"git": {"commit": "abc", "diff_blob": digest}}
    op = create_op(project="beta", host=host)
    batch = Batch(run_id=new_run("beta").run_id, writer="w", seq=0, ops=[op])
    team.store("bob").runs.write_batch(batch)
    client = TestClient(
        team.app, base_url="http://assay.test", cookies={"assay_key": team.keys["bob"]}
    )
    html = client.get(f"/runs/{batch.run_id}").text
    assert "secret weights" not in html


def test_evaluation_parts_cannot_name_another_projects_blob(team: Team, tmp_path: Path) -> None:
    from assay.records import EvaluationDraft

    _, _, digest = _alpha_artifact(team, tmp_path)
    _age_blobs(team)  # its bytes were not sent again lately: bob only knows the digest
    draft = EvaluationDraft(
        project="beta",
        name="e",
        model="m",
        model_key="k",
        model_version_id=None,
        dataset="d",
        dataset_digest="0" * 64,
        dataset_version_id=None,
        baseline_id=None,
        run_id=None,
        verdict=None,
        report={},
        items=[],
    )
    body = wire.encode(wire.EvaluationParts(draft, [digest]), wire.JSON)
    response = team.client.post(
        "/api/v1/evaluations/parts",
        content=body,
        headers={**team.headers("bob"), "content-type": "application/json"},
    )
    assert response.status_code == 400 and "is not stored" in response.text


# ---- passwords in URLs ---------------------------------------------------------------------

SECRET = "s3cret-pw"


def _dead_postgres(team: Team) -> str:
    """Point the store at a PostgreSQL URL (with a password) where nothing listens."""
    from tests.services import free_port

    url = f"postgresql://assay:{SECRET}@127.0.0.1:{free_port()}/assay"
    store = team.app.state.assay.store
    store.engine.dispose()
    store.db.engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"), connect_args={"connect_timeout": 2}
    )
    store.uri = url
    return url


def test_readyz_with_the_database_down_shows_no_url_and_no_password(team: Team) -> None:
    _dead_postgres(team)
    response = team.client.get("/readyz")
    assert response.status_code == 503
    text = response.text
    assert SECRET not in text and "postgresql://" not in text and "127.0.0.1" not in text
    assert "database" in response.json()["error"]["message"]


def test_errors_for_signed_in_callers_hide_the_database_password(team: Team) -> None:
    _dead_postgres(team)
    response = team.client.get("/api/v1/projects", headers=team.headers("root"))
    assert response.status_code == 503 and SECRET not in response.text
    client = TestClient(
        team.app, base_url="http://assay.test", cookies={"assay_key": team.keys["root"]}
    )
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 503 and SECRET not in page.text


def test_server_start_and_db_upgrade_print_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from assay.cli import server as server_cli
    from assay.cli.main import cli
    from tests.services import free_port

    url = f"postgresql://assay:{SECRET}@127.0.0.1:{free_port()}/assay"
    upgrade = CliRunner().invoke(cli, ["db", "upgrade", "--uri", url])
    assert upgrade.exit_code == 1 and SECRET not in upgrade.output
    assert "assay:***@127.0.0.1" in upgrade.output
    failed = CliRunner().invoke(cli, ["server", "--uri", url])
    assert failed.exit_code == 1 and SECRET not in failed.output
    monkeypatch.setattr(server_cli, "_prepare", lambda config: None)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: None)
    started = CliRunner().invoke(cli, ["server", "--uri", url])
    assert started.exit_code == 0, started.output
    assert SECRET not in started.output and "assay:***@127.0.0.1" in started.output


# ---- leftovers of a killed server ------------------------------------------------------------


def test_start_up_removes_temp_blobs_of_dead_processes_only(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from assay.store.blobs import LocalBlobStore

    root = tmp_path / "store"
    LocalBlobStore(root / "blobs").put(b"kept")
    folder = root / "blobs" / "ab"
    folder.mkdir(parents=True)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = socket.gethostname().replace("-", "_")
    dead = folder / f".tmp-{host}-{child.stdout.strip()}-x1"
    alive = folder / f".tmp-{host}-{os.getpid()}-x2"
    elsewhere = folder / ".tmp-other-host-1-x3"  # another machine sharing the folder
    ancient = folder / ".tmp-abc123"  # the old naming: no process to ask, only its age
    for path in (dead, alive, elsewhere, ancient):
        path.write_bytes(b"half a blob")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(ancient, (week_ago, week_ago))
    create_app(ServerConfig(str(root), local=True)).state.assay.close()
    assert not dead.exists() and not ancient.exists()
    assert alive.exists() and elsewhere.exists()
    assert len(list(LocalBlobStore(root / "blobs").list())) == 1


def test_the_log_of_an_unexpected_error_hides_passwords(
    team: Team, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError(f"lost postgresql://assay:{SECRET}@db.internal/assay")

    monkeypatch.setattr(team.app.state.assay.store.runs, "projects", broken)
    with caplog.at_level("ERROR", logger="assay.server"):
        client = TestClient(team.app, base_url="http://assay.test", raise_server_exceptions=False)
        response = client.get("/api/v1/projects", headers=team.headers("root"))
    assert response.status_code == 500 and SECRET not in response.text
    assert "assay:***@db.internal" in caplog.text and SECRET not in caplog.text


# ---- what is public ------------------------------------------------------------------------

PUBLIC = {"/healthz", "/readyz", "/login", "/static/x/x"}


@pytest.mark.parametrize("key", [None, "ak_000000000000_" + "x" * 40])
def test_every_route_but_health_login_and_static_files_needs_a_key(
    team: Team, key: str | None
) -> None:
    """No key, or a key that is not one: API and UI data routes answer 401, pages send the
    browser to the login page; nothing else is served."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    cookies = {"assay_key": key} if key else {}
    client = TestClient(
        team.app, base_url="http://assay.test", cookies=cookies, follow_redirects=False
    )
    routes = []
    for entry in team.app.routes:
        inner = getattr(entry, "original_router", None)
        routes.extend(inner.routes if inner is not None else [entry])
    checked = 0
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in sorted(route.methods or ()):
            if method == "HEAD" or path in PUBLIC:
                continue
            response = client.request(
                method, path, headers={**headers, "content-type": "application/json"}, content=b"{}"
            )
            checked += 1
            if path.startswith(("/api/", "/ui/")):
                assert response.status_code == 401, (method, path, response.status_code)
            else:
                assert response.status_code in (303, 401, 403), (method, path)
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/login")
    assert checked > 50


def test_every_route_for_every_identity_answers_without_a_5xx(team: Team, tmp_path: Path) -> None:
    """Each route, path parameters naming real things of project alpha, called by each
    kind of caller with an empty JSON body: a role decides, nothing breaks."""
    run_id, version_id, digest = _alpha_artifact(team, tmp_path)
    team.store("ann").models.register(version_id, "clf")
    team.auth.add_user("stranger")
    team.keys["stranger"] = team.auth.create_key("stranger")[1]
    values = {
        "project": "alpha",
        "run_id": run_id,
        "version_id": version_id,
        "digest": digest,
        "name": "m",
        "selector": "latest",
        "alias": "best",
        "evaluation_id": "nope",
        "path": "x",
    }
    routes = []
    for entry in team.app.routes:
        inner = getattr(entry, "original_router", None)
        routes.extend(inner.routes if inner is not None else [entry])
    for user in ("root", "ann", "vic", "bob", "stranger"):
        client = TestClient(
            team.app,
            base_url="http://assay.test",
            cookies={"assay_key": team.keys[user]},
            follow_redirects=False,
            raise_server_exceptions=False,
        )
        headers = {**team.headers(user), "content-type": "application/json"}
        for route in routes:
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), route.path)
            for method in sorted(route.methods or ()):
                response = client.request(method, path, headers=headers, content=b"{}")
                declined = _mlflow_not_implemented(response)  # MLflow's own 501
                assert response.status_code < 500 or declined, (user, method, path, response.text)


def _mlflow_not_implemented(response: httpx.Response) -> bool:
    """An MLflow operation Assay does not offer: 501 with MLflow's NOT_IMPLEMENTED."""
    if response.status_code != 501 or "/mlflow" not in response.url.path:
        return False
    return bool(response.json().get("error_code") == "NOT_IMPLEMENTED")


def test_blob_and_lineage_boundaries_hold_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    from assay.errors import NotFound
    from assay.records import Batch

    team = Team(tmp_path / "server", uri=postgres_url)
    try:
        run_id, version_id, digest = _alpha_artifact(team, tmp_path)
        diff = "+line\n" * 20_000  # large enough to go to a blob the run holds
        op = create_op(project="alpha", host={"git": {"diff": diff}})
        batch = Batch(run_id=new_run("alpha").run_id, writer="w", seq=0, ops=[op])
        team.store("ann").runs.write_batch(batch)
        diff_blob = team.store("vic").runs.get(batch.run_id).host["git"]["diff_blob"]
        for blob in (digest, diff_blob):
            assert team.store("vic").blobs.missing([blob]) == []
            assert team.store("bob").blobs.missing([blob]) == [blob]
            with pytest.raises(NotFound):
                team.store("bob").blobs.get(blob)
        assert len(team.store("vic").artifacts.lineage_edges([run_id], [])) == 1
        assert team.store("bob").artifacts.lineage_edges([run_id], [version_id]) == []
    finally:
        team.client.close()
        team.app.state.assay.close()


def test_knowing_another_projects_digest_is_not_enough_to_commit_it(
    team: Team, tmp_path: Path
) -> None:
    """A commit naming a blob only another project holds, whose bytes were not stored
    again lately, is refused as if the blob were not stored; sending the bytes fixes it."""
    from assay.errors import Conflict
    from assay.records import ArtifactDraft, FileEntry, Manifest

    _, _, digest = _alpha_artifact(team, tmp_path)
    _age_blobs(team)
    size = len(b"alpha's secret weights")
    manifest = Manifest(files=[FileEntry(path="stolen.txt", size=size, digest=digest)])
    draft = ArtifactDraft(project="beta", name="loot", type="dataset", manifest=manifest)
    bob = team.store("bob")
    with pytest.raises(Conflict, match="not stored"):
        bob.artifacts.commit(draft)
    with pytest.raises(NotFound):
        bob.blobs.get(digest)
    bob.blobs.put(b"alpha's secret weights")  # who has the bytes may name them
    assert bob.artifacts.commit(draft).project == "beta"
    assert bob.blobs.get(digest) == b"alpha's secret weights"
