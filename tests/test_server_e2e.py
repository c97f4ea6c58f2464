"""A real ``assay server`` process on loopback: the SDK through HTTP, outages, SIGKILL,
concurrent replays and requests, and several server processes on one PostgreSQL."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

import assay
from assay.errors import InvalidInput
from assay.ids import new_run_id
from assay.records import Batch
from assay.sdk import writer as writer_mod
from assay.sdk.settings import Settings
from assay.sdk.sync import sync
from assay.store.base import journal_root
from assay.store.http.store import RemoteStore
from tests.conftest import QUIET, create_op, points
from tests.services import free_port


class ServerProcess:
    def __init__(self, uri: str, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.uri = uri
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        args = [
            sys.executable,
            "-m",
            "assay",
            "server",
            "--uri",
            self.uri,
            "--port",
            str(self.port),
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server exited: {err}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(str(tmp_path / "server-store")).start()
    yield srv
    srv.stop()


def fast_settings(**changes: object) -> Settings:
    return Settings(**{**QUIET.__dict__, "flush_interval": 0.02, **changes})


def test_sdk_api_and_cli_work_the_same_through_the_server(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_URI", server.url)
    with assay.init(project="digits", config={"lr": 0.1}, tags=["remote"], settings=QUIET) as run:
        for i in range(100):
            run.log({"loss": 1 / (i + 1)})
    with assay.Api() as api:
        got = api.runs("digits", filter="config.lr > 0.05 and 'remote' in tags")
        assert [r.id for r in got] == [run.id]
        assert got[0].history(["loss"], format="numpy")["loss"].steps.tolist() == list(range(100))
    from click.testing import CliRunner

    from assay.cli.main import cli

    out = CliRunner().invoke(cli, ["runs", "ls", "-p", "digits"]).output
    assert run.id in out and "1 of 1 runs" in out


def test_server_down_30s_training_goes_on_and_every_point_lands_once(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setattr(writer_mod, "MAX_BACKOFF", 1.0)
    run = assay.init(project="p", uri=server.url, settings=fast_settings(finish_timeout=60))
    slowest = 0.0
    step = 0

    def log_for(seconds: float) -> None:
        nonlocal slowest, step
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            run.log({"x": float(step), "y": 1.0}, step=step)
            slowest = max(slowest, time.perf_counter() - t0)
            step += 1
            time.sleep(0.002)

    log_for(1.0)
    server.stop()
    log_for(30.0)  # the server is down for 30 s while training goes on
    server.start()
    log_for(1.0)
    run.finish()
    # a blocking detector, not a speed test: log() never waited on the dead server
    assert slowest < 0.5
    with closing(RemoteStore(server.url)) as store:
        got = store.runs.get(run.id)
        series = store.runs.history(run.id, ["x"])["x"]
    assert got.status == "finished" and got.metrics["x"].count == step  # exactly once
    assert series.steps.tolist() == list(range(step))


def test_server_killed_mid_batch_loses_nothing_the_client_counted_delivered(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.setattr(writer_mod, "MAX_BACKOFF", 0.5)
    run = assay.init(project="p", uri=server.url, settings=fast_settings(finish_timeout=60))
    assert run._writer is not None
    stop = threading.Event()

    def train() -> None:
        step = 0
        while not stop.is_set():
            run.log({f"k{j}": float(step) for j in range(50)}, step=step)
            step += 1
            time.sleep(0.0005)

    trainer = threading.Thread(target=train)
    trainer.start()
    time.sleep(1.5)
    server.stop(signal.SIGKILL)
    acked = run._writer._acked  # what the client had counted as delivered
    server.start()
    with closing(RemoteStore(server.url)) as store:
        delivered_steps = {
            key: set(c.steps.tolist()) for key, c in store.runs.history(run.id).items()
        }
    stop.set()
    trainer.join()
    run.finish()
    assert acked > 0 and delivered_steps  # the kill happened mid-stream
    with closing(RemoteStore(server.url)) as store:
        final = store.runs.get(run.id).metrics
        history = store.runs.history(run.id)
    counts = {k: m.count for k, m in final.items()}
    assert len(set(counts.values())) == 1  # every key got every step, exactly once
    for key, steps in delivered_steps.items():
        assert steps <= set(history[key].steps.tolist())
    assert len(history["k0"]) == counts["k0"]


def test_two_clients_replaying_one_journal_at_once_duplicate_nothing(
    server: ServerProcess, tmp_path: Path
) -> None:
    offline = tmp_path / "offline"
    with assay.init(project="p", uri=offline, mode="offline", settings=QUIET) as run:
        for i in range(5000):
            run.log({"x": float(i)})
    source = journal_root(str(offline))
    copies = [tmp_path / f"copy{i}" for i in range(2)]
    for copy in copies:
        shutil.copytree(source, copy)
    results: list[int] = []

    def replay(root: Path) -> None:
        store = RemoteStore(server.url)
        results.append(sync(root, store).batches)
        store.close()

    threads = [threading.Thread(target=replay, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with closing(RemoteStore(server.url)) as store:
        assert store.runs.get(run.id).metrics["x"].count == 5000
    assert sum(results) >= 1  # between them they delivered it, and nothing twice


def test_several_server_processes_on_one_postgresql(postgres_url: str, tmp_path: Path) -> None:
    blobs = str(tmp_path / "blobs")
    servers = [
        ServerProcess(postgres_url, extra=("--blobs", blobs, "--local")).start() for _ in range(2)
    ]
    try:
        errors: list[BaseException] = []

        def writer(url: str, project: str) -> None:
            try:
                with assay.init(project=project, uri=url, settings=QUIET) as run:
                    for i in range(2000):
                        run.log({"a": float(i), "b": float(-i)})
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=writer, args=(servers[i % 2].url, f"p{i % 3}"))
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for srv in servers:  # both processes see one truth
            with closing(RemoteStore(srv.url)) as store:
                runs = [r for p in ("p0", "p1", "p2") for r in store.runs.list(p)]
            assert len(runs) == 6
            assert all(r.metrics["a"].count == 2000 and r.status == "finished" for r in runs)
    finally:
        for srv in servers:
            srv.stop()


def test_login_then_the_sdk_uses_the_saved_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from assay.cli.main import cli
    from assay.store.sql.auth import SqlAuth
    from assay.store.sql.store import SqlStore

    uri = str(tmp_path / "team-store")
    admin = SqlStore.embedded(Path(uri))
    auth = SqlAuth(admin.engine)
    auth.add_user("ann")
    auth.grant("ann", "digits", "writer")
    key = auth.create_key("ann")[1]
    admin.close()
    srv = ServerProcess(uri, extra=("--auth",)).start()
    try:
        monkeypatch.setenv("ASSAY_CONFIG_DIR", str(tmp_path / "cfg"))
        monkeypatch.delenv("ASSAY_API_KEY", raising=False)
        bad = CliRunner().invoke(cli, ["login", srv.url, "--key", "ak_000000000000_" + "y" * 30])
        assert bad.exit_code == 1 and "not valid" in bad.output
        good = CliRunner().invoke(cli, ["login", srv.url, "--key", key])
        assert good.exit_code == 0 and "as ann" in good.output
        with assay.init(project="digits", uri=srv.url, settings=QUIET) as run:
            run.log({"x": 1.0})
        with assay.Api(srv.url) as api:
            assert api.run(run.id).metrics["x"].count == 1
            with pytest.raises(assay.errors.Forbidden):
                api.runs("elsewhere")
    finally:
        srv.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_requests_are_each_answered_once_durable_and_a_bad_one_fails_alone(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    extra = ("--workers", "2", "--local", "--blobs", str(tmp_path / "blobs"))
    srv = ServerProcess(uri or str(tmp_path / "server-store"), extra=extra).start()
    try:
        answers: dict[int, object] = {}
        run_ids = [new_run_id() for _ in range(16)]

        def writer(index: int) -> None:
            run_id = run_ids[index]
            create = Batch(run_id=run_id, writer="w", seq=0, ops=[create_op(project="load")])
            try:
                with closing(RemoteStore(srv.url)) as store:
                    got: list[object] = list(store.runs.write_batches([create]))
                    for seq in range(1, 21, 2):  # two batches a request
                        pair = [
                            Batch(run_id=run_id, writer="w", seq=s, ops=[points("x", [s], [1.0])])
                            for s in (seq, seq + 1)
                        ]
                        if index == 5 and seq == 11:  # one request holds a batch the
                            twice = [points("x", [12], [1.0]), points("x", [13], [1.0])]
                            pair[1] = Batch(run_id=run_id, writer="w", seq=12, ops=twice)
                        try:  # store refuses inside the transaction
                            got += store.runs.write_batches(pair)
                        except InvalidInput:
                            got.append("refused")
                    answers[index] = got
            except BaseException as exc:
                answers[index] = exc

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        everything = [True] * 21
        assert {i: a for i, a in answers.items() if i != 5} == {
            i: everything for i in range(16) if i != 5
        }
        assert answers[5] == [True] * 11 + ["refused"] + [True] * 8
        with closing(RemoteStore(srv.url)) as store:
            for index, run_id in enumerate(run_ids):
                steps = list(store.runs.history(run_id, ["x"])["x"].steps)
                lost = {11, 12} if index == 5 else set()  # the refused request applied none
                assert steps == [s for s in range(1, 21) if s not in lost]
    finally:
        srv.stop()
