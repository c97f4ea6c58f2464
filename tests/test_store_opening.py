"""Opening a store: private files, read-only copies, and errors that tell a store that
cannot be used (no retry helps) from an outage."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.errors import StoreUnavailable, StoreUnusable
from assay.records import Batch, Heartbeat
from assay.store import open_store
from assay.store.sql import audit
from assay.store.sql.opening import use_wal
from assay.store.sql.store import SqlStore
from tests.conftest import create_run, points
from tests.services import _as_postgres, free_port, missing, postgres_bindir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_embedded_store_is_private_to_its_owner(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    create_run(store)
    store.blobs.put(b"weights")
    root = tmp_path / "store"
    assert mode(root) == 0o700 and mode(root / "blobs") == 0o700
    for name in ("assay.db", "assay.db-wal", "assay.db-shm"):
        if (root / name).exists():
            assert mode(root / name) == 0o600, name
    store.close()


def _freeze(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            os.chmod(Path(folder) / name, 0o444)
        os.chmod(folder, 0o555)


def _thaw(root: Path) -> None:
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(Path(folder) / name, 0o644)


@pytest.fixture
def frozen_copy(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A store with one run, copied and made read-only with chmod a-w. The store opens
    such a copy read-only because no write bit is set, a check that holds even for root
    (who could write anyway): these tests run the same as root and as a user."""
    store = SqlStore.embedded(tmp_path / "store")
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("loss", [0, 1], [2.0, 1.0])])
    )
    store.close()
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "store", copy)
    _freeze(copy)
    try:
        yield copy, run_id
    finally:
        _thaw(copy)


def test_a_read_only_store_can_be_read_and_audited(frozen_copy: tuple[Path, str]) -> None:
    root, run_id = frozen_copy
    store = open_store(root)
    assert isinstance(store, SqlStore) and store.read_only
    assert store.runs.get(run_id).metrics["loss"].count == 2
    assert list(store.runs.history(run_id)["loss"].values) == [2.0, 1.0]
    assert [r.action for r in audit.records(store.engine)] == ["run.created"]
    assert audit.verify(store.engine).ok
    store.close()


def test_writing_to_a_read_only_store_says_so(frozen_copy: tuple[Path, str]) -> None:
    root, run_id = frozen_copy
    store = open_store(root)
    with pytest.raises(StoreUnusable, match="read-only"):
        store.runs.write_batch(
            Batch(run_id=run_id, writer="w", seq=2, ops=[Heartbeat(at=time.time())])
        )
    with pytest.raises(StoreUnusable, match="read-only"):
        store.blobs.put(b"x")
    store.close()


def test_a_file_that_is_not_a_store_is_unusable(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "assay.db").write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(StoreUnusable, match="not a database"):
        open_store(root)


def test_a_missing_postgresql_database_is_unusable(postgres: str) -> None:
    url = postgres.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreUnusable, match="does not exist"):
        SqlStore.from_url(url, blobs=Path(tempfile.gettempdir()) / "unused-blobs")


def test_an_unreachable_database_is_an_outage() -> None:
    with pytest.raises(StoreUnavailable, match="cannot open"):
        SqlStore.from_url("postgresql://me:pw@127.0.0.1:9/none", blobs=Path("/nonexistent"))


PASSWORD = "correct-horse-battery"


@contextlib.contextmanager
def _password_cluster() -> Iterator[str]:
    """A PostgreSQL cluster that checks passwords (scram-sha-256); yields its URL's
    host part (``127.0.0.1:port``)."""
    bindir = postgres_bindir()
    if bindir is None:
        missing("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="assay-pgpw-"))
    data, sock, pwfile = root / "data", root / "sock", root / "pw"
    sock.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, sock, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "assay", "--no-sync", "-E", "UTF8"]
    auth = ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
    subprocess.run(_as_postgres(initdb + auth), check=True, capture_output=True)
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log")]
    subprocess.run(_as_postgres([*start, "start"]), check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_a_wrong_database_password_is_unusable_and_never_shown(tmp_path: Path) -> None:
    with _password_cluster() as host:
        wrong = "wrong-secret-pw"
        with pytest.raises(StoreUnusable, match="password authentication failed") as info:
            SqlStore.from_url(f"postgresql://assay:{wrong}@{host}/postgres", blobs=tmp_path)
        assert wrong not in str(info.value) and "***" in str(info.value)
        store = SqlStore.from_url(f"postgresql://assay:{PASSWORD}@{host}/postgres", blobs=tmp_path)
        assert store.runs.projects() == []
        store.close()


def _open_as_nobody(root: Path) -> str:
    """Open ``root`` in a child process that runs as the unprivileged ``nobody`` user
    (root may enter any folder); return the name and message of what it raised."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, try, report, exit without cleanup
        os.close(read)
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            open_store(root)
            result = "opened"
        except BaseException as exc:
            result = f"{type(exc).__name__}: {exc}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    return answer


def test_a_folder_without_permission_is_unusable(tmp_path: Path) -> None:
    private = tmp_path / "private"
    SqlStore.embedded(private / "store").close()
    os.chmod(private, 0o700)
    if os.geteuid() == 0:
        answer = _open_as_nobody(private / "store")
    else:
        os.chmod(private, 0o000)
        try:
            open_store(private / "store")
            answer = "opened"
        except Exception as exc:
            answer = f"{type(exc).__name__}: {exc}"
        finally:
            os.chmod(private, 0o700)
    assert answer.startswith("StoreUnusable") and "Permission denied" in answer, answer


def test_a_database_role_without_privileges_is_unusable(postgres_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    SqlStore.from_url(postgres_url, blobs=tmp_path).close()  # the schema, made by its owner
    role = f"visitor_{uuid.uuid4().hex[:8]}"  # roles belong to the whole (shared) cluster
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    admin.dispose()
    visitor = postgres_url.replace("://assay@", f"://{role}@", 1)
    with pytest.raises(StoreUnusable, match="permission denied"):
        SqlStore.from_url(visitor, blobs=tmp_path)


# ---- outages after opening: 503s, not 500s ---------------------------------------------------


def test_a_database_that_stops_answering_is_an_outage_for_api_keys_too(tmp_path: Path) -> None:
    """Every authenticated route checks the key first: a database that went down must
    answer as unavailable (503), not as an unexpected error (500)."""
    import dataclasses

    import sqlalchemy as sa
    from starlette.testclient import TestClient

    from assay.server.app import create_app
    from assay.server.config import ServerConfig
    from assay.store.sql.auth import SqlAuth

    gone = sa.create_engine(f"postgresql+psycopg://u:hunter2@127.0.0.1:{free_port()}/x")
    app = create_app(ServerConfig(str(tmp_path / "s"), local=False))
    app.state.assay = dataclasses.replace(app.state.assay, auth=SqlAuth(gone))
    with TestClient(app, base_url="http://localhost") as client:
        key = "ak_abcdefabcdef_" + "x" * 30
        response = client.get("/api/v1/projects", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 503, response.text
    assert "hunter2" not in response.text


def test_a_blob_folder_that_cannot_be_written_is_an_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.store.blobs import LocalBlobStore

    blobs = LocalBlobStore(tmp_path / "blobs")

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(StoreUnavailable, match="cannot be written: Read-only") as err:
        blobs.put(b"weights")
    assert str(tmp_path) not in str(err.value)


class _BusySwitch(sqlite3.Cursor):
    """A cursor whose first switches to WAL find the file locked, as when another
    process is opening the same new store at that moment."""

    refusals = 2

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "PRAGMA journal_mode = WAL" and _BusySwitch.refusals:
            _BusySwitch.refusals -= 1
            raise sqlite3.OperationalError("database is locked")
        return super().execute(sql, *args)


def test_switching_a_new_store_to_wal_waits_out_a_lock(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    _BusySwitch.refusals = 2
    use_wal(conn.cursor(_BusySwitch))
    assert _BusySwitch.refusals == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_lock_that_outlasts_the_patience_is_reported(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    _BusySwitch.refusals = 1000
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn.cursor(_BusySwitch), patience=0.1)


def test_a_store_already_in_wal_is_not_switched_again(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    _BusySwitch.refusals = 1000
    use_wal(conn.cursor(_BusySwitch))  # would raise if it tried
    assert _BusySwitch.refusals == 1000
