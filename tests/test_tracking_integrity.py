"""What "a logging call that never loses data" means: values that cannot be stored,
a full disk, refused batches, two writers of one run, stores that cannot be used,
journals that remember where they go, and who may read them."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

import assay
from assay.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SchemaMismatch,
    StoreUnusable,
    Unauthorized,
)
from assay.records import Batch, UpdateRun
from assay.sdk import journal as jnl
from assay.sdk import state
from assay.sdk import writer as writer_mod
from assay.sdk.settings import Settings
from assay.sdk.sync import sync
from assay.store import Store, open_store
from assay.store.base import journal_root
from assay.values import normalise_config
from tests.conftest import BACKENDS, QUIET, create_op, points, remote_store

REMOTE_URI = "http://assay.test"


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The URI a run is given, for each backend; ``opener(uri)`` opens it to read back."""
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    if request.param == "sqlite":
        yield str(tmp_path / "store")
    elif request.param == "postgresql":
        yield request.getfixturevalue("postgres_url")
    else:
        root = tmp_path / "server"
        real = open_store

        def opener(uri: Any = None) -> Store:
            return remote_store(root) if uri == REMOTE_URI else real(uri)

        monkeypatch.setattr("assay.sdk.init.open_store", opener)
        monkeypatch.setattr(sys.modules[__name__], "open_store", opener)
        yield REMOTE_URI


def read_back(uri: str, run_id: str) -> Any:
    store = open_store(uri)
    try:
        return store.runs.get(run_id)
    finally:
        store.close()


def settings(**changes: Any) -> Settings:
    return Settings(**{**QUIET.__dict__, "flush_interval": 0.01, **changes})


# ---- 1. values accepted at the call can always be stored ---------------------------------


def test_numpy_scalar_in_config_and_summary_is_stored(backend: str) -> None:
    sweep = np.logspace(-3, -1, 3)
    run_ids = []
    for lr in sweep:
        config = {"lr": lr, "layers": np.int64(3), "wd": np.float32(0.5), "on": np.bool_(1)}
        with assay.init(project="p", uri=backend, config=config, settings=QUIET) as run:
            for step in range(5):
                run.log({"loss": float(step)})
            run.summary["best"] = max(0.0, lr)
            run_ids.append(run.id)
    for run_id, lr in zip(run_ids, sweep, strict=True):
        got = read_back(backend, run_id)
        assert got.status == "finished"
        assert got.config == {"lr": float(lr), "layers": 3, "wd": 0.5, "on": True}
        assert got.summary["best"] == float(lr)
        assert got.metrics["loss"].count == 5


@pytest.mark.parametrize(
    "value",
    [np.float64(0.5), np.int32(7), np.bool_(False), np.str_("adam"), np.arange(3) * 0.5],
    ids=["float64", "int32", "bool_", "str_", "array"],
)
def test_config_leaves_become_exact_builtins(value: Any) -> None:
    got = normalise_config({"a": {"b": value}, "c": [value]})
    leaves = [got["a"]["b"], *got["c"]]
    for leaf in leaves:
        items = leaf if isinstance(leaf, list) else [leaf]
        assert all(type(x) in (bool, int, float, str) for x in items), items
    msgspec.msgpack.encode(got)  # the journal's encoder takes it


class Flag(int):
    pass


class Label(str):
    pass


class Ratio(float):
    pass


def test_subclasses_of_builtins_become_the_builtin() -> None:
    got = normalise_config({"f": Flag(1), Label("k"): Label("v"), "r": Ratio(0.25)})
    assert got == {"f": 1, "k": "v", "r": 0.25}
    assert [type(v) for v in got.values()] == [int, str, float]
    assert [type(k) for k in got] == [str, str, str]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"big": 2**70}, "config.big"),
        ({"a": {"s": "\ud800"}}, "config.a.s"),
        ({"a": ["ok", "nul\x00"]}, r"config.a\[1\]"),
    ],
)
def test_values_the_journal_could_not_carry_are_refused_at_the_call(
    config: dict[str, Any], path: str
) -> None:
    with pytest.raises(InvalidInput, match=path):
        normalise_config(config)


def test_an_operation_that_cannot_be_encoded_costs_only_itself(
    store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = assay.init(project="p", uri=store_uri, settings=settings())
    assert run._writer is not None
    run._writer.add_op(UpdateRun(at=time.time(), summary={"bad": object()}))  # past the checks
    run.log({"x": 1.0})
    run.summary["good"] = 2.0
    assert run.flush() is False  # one operation was lost, and flush says so
    run.finish()
    got = read_back(store_uri, run.id)
    assert got.metrics["x"].count == 1 and got.summary["good"] == 2.0
    assert got.summary[writer_mod.DROPPED_KEY] == 1
    assert any("could not be encoded" in r.getMessage() for r in caplog.records)


# ---- 2. a full disk ------------------------------------------------------------------------


class FullDisk:
    """``os.write`` on journal files fails with ENOSPC while ``full`` is set; the first
    failing write first writes half of what it was given, as a real disk filling up can."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.torn = 0
        self._real = os.write
        monkeypatch.setattr(os, "write", self.write)

    def write(self, fd: int, data: Any) -> int:
        if self.full and _is_journal(fd):
            if not self.torn and len(data) > 16:
                self.torn += 1
                return self._real(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._real(fd, data)


def _is_journal(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(jnl.SUFFIX)
    except OSError:
        return False


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to tell journal files from others")
    return FullDisk(monkeypatch)


def test_full_journal_disk_loses_nothing_while_the_store_takes_data(
    backend: str, disk: FullDisk
) -> None:
    run = assay.init(project="p", uri=backend, settings=settings())
    run.log({"x": 0.0}, step=0)
    assert run.flush() is True
    disk.full = True
    for step in range(1, 3000):
        run.log({"x": float(step)}, step=step)
        if step % 500 == 0:
            assert run.flush() is True  # the store has it, though the journal does not
    assert disk.torn == 1
    disk.full = False
    for step in range(3000, 4000):
        run.log({"x": float(step)}, step=step)
    run.finish()
    got = read_back(backend, run.id)
    assert got.status == "finished" and got.metrics["x"].count == 4000
    assert writer_mod.DROPPED_KEY not in got.summary


def _no_space(*args: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_disk_full_from_the_start_neither_stops_init_nor_loses_data(
    store_uri: str, disk: FullDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk.full = True  # journal appends fail, and so do the meta and delivered-mark files
    monkeypatch.setattr(jnl, "_replace", _no_space)
    run = assay.init(project="p", uri=store_uri, settings=settings())
    for step in range(100):
        run.log({"x": float(step)}, step=step)
    assert run.finish() is True
    assert read_back(store_uri, run.id).metrics["x"].count == 100


def test_the_delivered_mark_is_a_hint_a_full_disk_cannot_turn_into_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """finish() delivers, then writes the mark: a disk that fills up in between must not
    make it raise (it did, from the writer's close)."""
    monkeypatch.setattr(jnl, "_replace", _no_space)
    assert jnl.write_acked(tmp_path / "w.jnl", 3) is False


def test_offline_run_keeps_what_a_full_disk_refused_until_space_returns(
    store_uri: str, disk: FullDisk
) -> None:
    run = assay.init(project="p", uri=store_uri, mode="offline", settings=settings())
    for step in range(1000):
        run.log({"x": float(step)}, step=step)
    run.flush()
    disk.full = True
    for step in range(1000, 2000):
        run.log({"x": float(step)}, step=step)
    run.flush()
    assert run._writer is not None and not run._writer.journaled
    disk.full = False  # space comes back
    for step in range(2000, 3000):
        run.log({"x": float(step)}, step=step)
    run.finish()
    assert disk.torn == 1
    store = open_store(store_uri)
    with warnings.catch_warnings():
        warnings.simplefilter("error", jnl.JournalWarning)  # the torn record was cut back
        report = sync(journal_root(store_uri), store)
    assert report.crashed == []
    got = store.runs.get(run.id)
    assert got.status == "finished" and got.metrics["x"].count == 3000
    assert list(store.runs.history(run.id, ["x"])["x"].steps) == list(range(3000))
    store.close()


def test_points_dropped_when_neither_disk_nor_store_takes_them_are_counted_and_reported(
    store_uri: str,
    disk: FullDisk,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(writer_mod, "MAX_UNWRITTEN_POINTS", 500)
    run = assay.init(project="p", uri=store_uri, mode="offline", settings=settings())
    run.log({"x": 0.0}, step=0)
    run.flush()
    disk.full = True
    for step in range(1, 2001):
        run.log({"x": float(step)}, step=step)
        if step % 100 == 0:
            assert run.flush() is False
    assert run._writer is not None
    dropped = run._writer.dropped_points
    assert 0 < dropped < 2000
    disk.full = False
    assert run.finish() is False  # something was lost, and finish says so
    assert any("dropped" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    store = open_store(store_uri)
    sync(journal_root(store_uri), store)
    got = store.runs.get(run.id)
    assert got.summary[writer_mod.DROPPED_KEY] == dropped
    assert got.metrics["x"].count == 2001 - dropped
    store.close()


def test_sync_reads_on_past_a_torn_record(tmp_path: Path) -> None:
    path = tmp_path / "r1" / "w1.jnl"
    batches = [
        Batch(
            run_id="r1",
            writer="w1",
            seq=0,
            ops=[create_op(name="n", created_at=1.0)],
        ),
        Batch(run_id="r1", writer="w1", seq=1, ops=[points("x", [0, 1], [0.0, 1.0], at=1.0)]),
        Batch(run_id="r1", writer="w1", seq=2, ops=[points("x", [2, 3], [2.0, 3.0], at=1.0)]),
    ]
    records = [jnl.encode_record(b) for b in batches]
    path.parent.mkdir()
    path.write_bytes(records[0] + records[1][: len(records[1]) // 2] + records[2])
    with pytest.warns(jnl.JournalWarning, match="reading on from byte"):
        read = list(jnl.read_journal(path))
    assert [b.seq for b in read] == [0, 2]
    store = open_store(tmp_path / "store")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jnl.JournalWarning)
        sync(path, store)
    assert list(store.runs.history("r1", ["x"])["x"].steps) == [2, 3]
    store.close()


def test_a_failed_append_is_cut_back_so_the_journal_stays_whole(
    tmp_path: Path, disk: FullDisk
) -> None:
    path = tmp_path / "r1" / "w1.jnl"
    journal = jnl.JournalWriter(path)
    first = Batch(run_id="r1", writer="w1", seq=0, ops=[points("x", [0], [0.0])])
    second = Batch(run_id="r1", writer="w1", seq=1, ops=[points("x", [1], [1.0])])
    journal.append(first)
    disk.full = True
    with pytest.raises(OSError, match="No space"):
        journal.append(second)
    assert disk.torn == 1
    disk.full = False
    journal.append(second)
    journal.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", jnl.JournalWarning)
        assert [b.seq for b in jnl.read_journal(path)] == [0, 1]


# ---- 3. NUL and other characters a store cannot keep -------------------------------------


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"name": "run\x00one"}, "run name"),
        ({"name": "two\nlines"}, "run name"),
        ({"tags": ["ok", "t\x00g"]}, "tag"),
        ({"notes": "see \x00 here"}, "notes"),
        ({"group": "g\x00"}, "group"),
        ({"job_type": "train\x00"}, "job type"),
        ({"config": {"opt": {"name": "ad\x00am"}}}, r"config\.opt\.name"),
        ({"config": {"k\x00": 1}}, "config"),
    ],
)
def test_nul_is_refused_at_init_naming_the_field(
    store_uri: str, given: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        assay.init(project="p", uri=store_uri, settings=QUIET, **given)
    assert not (Path(store_uri) / "journal").exists() or not list(
        (Path(store_uri) / "journal").rglob("*.jnl")
    )


def test_nul_is_refused_by_every_later_update_naming_the_field(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        with pytest.raises(InvalidInput, match="notes"):
            run.notes = "a\x00b"
        with pytest.raises(InvalidInput, match="tag"):
            run.tags = ["x\x00"]
        with pytest.raises(InvalidInput, match=r"config\.a\.b"):
            run.config.update({"a": {"b": "\x00"}})
        with pytest.raises(InvalidInput, match=r"summary\.best"):
            run.summary["best"] = "n\x00"
        with pytest.raises(InvalidInput, match="metric key"):
            run.log({"lo\x00ss": 1.0})
        run.notes = "line one\nline two\ttabbed"  # free text keeps its lines
        run.log({"x": 1.0})
    got = read_back(store_uri, run.id)
    assert got.notes == "line one\nline two\ttabbed" and got.metrics["x"].count == 1


def test_captured_console_output_with_nul_is_kept_with_a_replacement(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=settings(capture_console=True)) as run:
        print("bytes \x00 in output")
        print("surrogate \udcff here")
    lines = [line.text for line in assay.Api(store_uri).run(run.id).log_lines()]
    assert lines == ["bytes \ufffd in output", "surrogate \ufffd here"]


def test_a_traceback_with_nul_is_kept_with_a_replacement(store_uri: str) -> None:
    with pytest.raises(ValueError), assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        raise ValueError("bad \x00 byte")
    got = read_back(store_uri, run.id)
    assert got.status == "failed" and "bad \ufffd byte" in got.traceback


def test_a_batch_the_store_refuses_is_set_aside_and_later_batches_arrive(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = assay.init(project="p", uri=backend, settings=settings())
    assert run.flush() is True and run._writer is not None
    refused = run._writer._seq
    run._writer.add_op(UpdateRun(at=time.time(), tags=["bad\x00tag"]))  # past the SDK's checks
    assert run.flush() is True  # the refused batch does not block
    run.log({"x": 1.0})
    journal = run._writer.journal.path
    assert run.finish() is True
    got = read_back(backend, run.id)
    assert got.status == "finished" and got.metrics["x"].count == 1 and got.tags == []
    assert [b.seq for b in jnl.read_journal(jnl.rejected_path(journal))] == [refused]
    assert any(f"refused batch {refused}" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": {"code": "invalid_input", "message": "NUL in run name"}}, "InvalidInput"),
        (422, {"error": {"code": "something_new", "message": "no"}}, "InvalidInput"),
        (400, None, "InvalidInput"),
        (413, None, "LimitExceeded"),
        (401, None, "Unauthorized"),
        (403, None, "Forbidden"),
        (404, None, "StoreUnusable"),
        (408, None, "StoreUnavailable"),
        (429, None, "StoreUnavailable"),
        (500, None, "StoreUnavailable"),
        (500, {"error": {"code": "internal", "message": "boom"}}, "StoreUnavailable"),
        (503, None, "StoreUnavailable"),
    ],
)
def test_remote_statuses_become_refusals_or_outages(
    status: int, body: dict[str, Any] | None, kind: str
) -> None:
    import httpx

    from assay import errors
    from assay.store.http.store import RemoteStore

    def answer(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, text="<html>proxy says no</html>")
        return httpx.Response(status, json=body)

    client = httpx.Client(base_url="http://x.test", transport=httpx.MockTransport(answer))
    store = RemoteStore("http://x.test", api_key="k", client=client, retries=0)
    with pytest.raises(getattr(errors, kind)) as caught:
        store.runs.write_batch(Batch(run_id="r", writer="w", seq=0, ops=[]))
    assert type(caught.value) is getattr(errors, kind)
    store.close()


# ---- 4. two writers of one run ---------------------------------------------------------------


def test_a_second_writer_of_a_live_run_is_refused(backend: str) -> None:
    first = assay.init(project="p", uri=backend, settings=settings())
    first.log({"x": 0.0})
    assert first.flush() is True
    with pytest.raises(Conflict, match=rf"run {first.id} is running .* heard from about \d+ s ago"):
        assay.init(  # as another process would: this one's run stays open
            project="p",
            uri=backend,
            id=first.id,
            resume=True,
            settings=QUIET,
            reinit="create_new",
        )
    first.log({"x": 1.0})
    first.finish()
    with assay.init(project="p", uri=backend, id=first.id, resume=True, settings=QUIET) as again:
        assert again.step == 2  # an ended run may be resumed
        again.log({"x": 2.0})
    store = open_store(backend)
    got, history = store.runs.get(first.id), store.runs.history(first.id)
    store.close()
    assert got.metrics["x"].count == 3 and len(history["x"]) == 3


def test_a_run_silent_for_longer_than_the_margin_may_be_resumed(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = assay.init(project="p", uri=store_uri, settings=settings())
    first.log({"x": 0.0})
    assert first.flush() is True
    assert first._writer is not None
    first._writer.close(timeout=1)  # its process died: the run stays "running", silent
    state.forget(first)
    first._status = "crashed"  # (so that this process does not finish it at exit)
    monkeypatch.setenv("ASSAY_HEARTBEAT_TIMEOUT", "0")  # ...for longer than the store waits
    with assay.init(project="p", uri=store_uri, id=first.id, resume=True, settings=QUIET) as again:
        assert again.step == 1
        again.log({"x": 1.0})
    got = read_back(store_uri, first.id)
    assert got.status == "finished" and got.metrics["x"].count == 2


# ---- 5. a store that refuses the run fails fast ------------------------------------------


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from tests.test_server import Team

    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    made = Team(tmp_path / "server")
    yield made
    made.client.close()


def _through(monkeypatch: pytest.MonkeyPatch, make: Callable[[], Store]) -> None:
    monkeypatch.setattr("assay.sdk.init.open_store", lambda uri: make())


def test_a_key_without_a_role_on_the_project_fails_at_init(
    team: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _through(monkeypatch, lambda: team.store("bob"))  # bob writes to beta only
    with pytest.raises(Forbidden, match="role"):
        assay.init(project="alpha", uri=REMOTE_URI, settings=QUIET)
    assert list((tmp_path / "journals").rglob("*.jnl")) == []  # nothing left to sync


def test_a_revoked_key_fails_at_init(team: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    team.auth.revoke_key(team.keys["ann"].split("_")[1])
    _through(monkeypatch, lambda: team.store("ann"))
    with pytest.raises(Unauthorized, match="revoked"):
        assay.init(project="alpha", uri=REMOTE_URI, settings=QUIET)


def test_an_unknown_key_fails_at_init_and_the_uri_password_is_hidden(
    team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from assay.store.http.store import RemoteStore

    uri = "http://me:hunter2@assay.test"

    def make() -> Store:
        client = TestClient(team.app, base_url="http://assay.test")
        return RemoteStore(uri, api_key="ak_000000000000_notakey", client=client, retries=0)

    _through(monkeypatch, make)
    with pytest.raises(Unauthorized) as caught:
        assay.init(project="alpha", uri=uri, settings=QUIET)
    assert "me:***@assay.test" in str(caught.value) and "hunter2" not in str(caught.value)


def test_a_writer_key_starts_its_run(team: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _through(monkeypatch, lambda: team.store("ann"))
    with assay.init(project="alpha", uri=REMOTE_URI, settings=QUIET) as run:
        run.log({"x": 1.0})
    assert team.store("ann").runs.get(run.id).metrics["x"].count == 1


def test_a_store_that_cannot_be_opened_fails_at_init(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "assay.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises((StoreUnusable, SchemaMismatch)):
        assay.init(project="p", uri=str(root), settings=QUIET)


def test_an_unreachable_store_is_an_outage_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.services import free_port

    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    uri = f"http://me:hunter2@127.0.0.1:{free_port()}"
    run = assay.init(project="p", uri=uri, settings=settings(finish_timeout=0.2))
    run.log({"x": 1.0})
    assert run.finish() is False  # kept in the journal for `assay sync`
    assert len(list((tmp_path / "journals").rglob("*.jnl"))) == 1
    assert "hunter2" not in caplog.text and "cannot deliver" in caplog.text


# ---- 6. a journal remembers its destination ------------------------------------------------


def _offline_run(uri: str) -> str:
    with assay.init(project="p", uri=uri, mode="offline", settings=QUIET) as run:
        run.log({"x": 1.0})
    return run.id


def test_sync_delivers_each_journal_to_the_store_it_was_meant_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    team_store, laptop, default = (str(tmp_path / n) for n in ("team", "laptop", "default"))
    to_team, to_laptop = _offline_run(team_store), _offline_run(laptop)
    report = sync(tmp_path / "journals", default_uri=default)
    assert report.failed == {} and sorted(report.delivered_to.values()) == [laptop, team_store]
    assert read_back(team_store, to_team).metrics["x"].count == 1
    assert read_back(laptop, to_laptop).metrics["x"].count == 1
    with pytest.raises(NotFound):
        read_back(team_store, to_laptop)
    assert not Path(default).exists()


def test_the_sync_command_names_each_destination_and_to_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from assay.cli.main import cli

    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    team_store, other = str(tmp_path / "team"), str(tmp_path / "other")
    first = _offline_run(team_store)
    result = CliRunner().invoke(cli, ["sync"], env={"ASSAY_URI": str(tmp_path / "local")})
    assert result.exit_code == 0, result.output
    assert f"1 journal(s) delivered to {team_store}" in result.output
    assert read_back(team_store, first).status == "finished"
    second = _offline_run(team_store)
    result = CliRunner().invoke(cli, ["sync", "--to", other])
    assert result.exit_code == 0 and f"delivered to {other}" in result.output
    assert read_back(other, second).status == "finished"
    with pytest.raises(NotFound):
        read_back(team_store, second)


def test_a_journal_whose_store_cannot_be_reached_stays_for_a_later_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    unusable, fine = str(blocker / "store"), str(tmp_path / "fine")
    _offline_run(unusable)
    ok = _offline_run(fine)
    report = sync(tmp_path / "journals", default_uri=fine)
    assert len(report.failed) == 1 and list(report.delivered_to.values()) == [fine]
    assert read_back(fine, ok).status == "finished"
    stays = next(iter(report.failed))
    assert stays.exists() and jnl.read_meta(stays)["uri"] == unusable


# ---- 7. who may read a journal ------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journals_and_what_lies_beside_them_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    old = os.umask(0)  # nothing may rely on the umask
    try:
        run = assay.init(project="p", uri=str(tmp_path / "store"), settings=settings())
        assert run._writer is not None
        run._writer.add_op(UpdateRun(at=time.time(), tags=["bad\x00"]))  # a dead letter
        run.log({"x": 1.0})
        run.flush()
        path = run._writer.journal.path
        files = [path, jnl.acked_path(path), jnl.meta_path(path), jnl.rejected_path(path)]
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(path.parent) == 0o700 and _mode(tmp_path / "journals") == 0o700
        run.finish()
    finally:
        os.umask(old)


def test_a_relative_store_path_is_recorded_absolute_for_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journals"))
    run_id = _offline_run("rel-store")
    (meta,) = (tmp_path / "journals").rglob("*.meta")
    assert json.loads(meta.read_text())["uri"] == str(tmp_path / "rel-store")
    monkeypatch.chdir(tmp_path / "journals")  # a new terminal, somewhere else
    assert sync(tmp_path / "journals", default_uri="elsewhere").failed == {}
    assert read_back(str(tmp_path / "rel-store"), run_id).status == "finished"


class DriverError(Exception):
    """What a database driver raises for data it cannot take (not an Assay error)."""


def test_a_batch_failing_with_a_foreign_error_is_set_aside_after_a_few_tries(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = open_store(store_uri)
    poisoned: list[int] = []

    class Store_:
        uri = store_uri

        @property
        def runs(self) -> Store_:  # its own runs facet: the writer uses no other
            return self

        def write_batch(self, batch: Batch) -> bool:
            if batch.seq in poisoned:
                raise DriverError("value cannot be stored")
            return inner.runs.write_batch(batch)

        def close(self) -> None:
            pass

    monkeypatch.setattr("assay.sdk.init.open_store", lambda uri: Store_())
    monkeypatch.setattr(writer_mod, "MAX_BACKOFF", 0.01)
    run = assay.init(project="p", uri=store_uri, settings=settings())
    assert run.flush() is True and run._writer is not None
    poisoned.append(run._writer._seq)
    run.summary["x"] = 1.0
    run.flush()
    run.log({"after": 1.0})
    assert run.finish() is True
    got = inner.runs.get(run.id)
    assert got.metrics["after"].count == 1 and "x" not in got.summary
    rejected = jnl.rejected_path(run._writer.journal.path)
    assert [b.seq for b in jnl.read_journal(rejected)] == poisoned
    inner.close()


# ---- a second init in one process, and resuming into another project ---------------------------


def test_a_second_init_finishes_the_first_and_says_so(
    store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = assay.init(project="p", uri=store_uri, settings=QUIET)
    first.log({"x": 1.0})
    with caplog.at_level(logging.WARNING, logger="assay"):
        second = assay.init(project="p", uri=store_uri, settings=QUIET)
    assert f"run {first.id} was not finished" in caplog.text
    assert first.status == "finished" and assay.active_run() is second
    second.finish()
    assert read_back(store_uri, first.id).status == "finished"


def test_return_previous_gives_back_the_open_run_and_refuses_another_project(
    store_uri: str,
) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as first:
        again = assay.init(uri=store_uri, settings=QUIET, reinit="return_previous")
        assert again is first
        with pytest.raises(InvalidInput, match=r"still running here.*'q'"):
            assay.init(project="q", uri=store_uri, settings=QUIET, reinit="return_previous")


def test_create_new_keeps_both_runs_open(store_uri: str) -> None:
    first = assay.init(project="p", uri=store_uri, settings=QUIET)
    with assay.init(project="p", uri=store_uri, settings=QUIET, reinit="create_new") as two:
        assert first.status == "running" and two.status == "running"
    first.finish()


def test_resuming_keeps_the_runs_project_and_refuses_another(store_uri: str) -> None:
    with assay.init(project="vision", uri=store_uri, settings=QUIET) as first:
        first.log({"x": 1.0})
    with pytest.raises(InvalidInput, match="belongs to project 'vision', not 'nlp'"):
        assay.init(project="nlp", uri=store_uri, id=first.id, resume=True, settings=QUIET)
    with assay.init(uri=store_uri, id=first.id, resume=True, settings=QUIET) as again:
        assert again.project == "vision" and again.step == 1


def test_an_unknown_reinit_is_named(store_uri: str) -> None:
    with pytest.raises(InvalidInput, match="reinit 'sometimes'"):
        assay.init(uri=store_uri, settings=QUIET, reinit="sometimes")
