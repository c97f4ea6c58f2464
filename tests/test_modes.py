"""``ASSAY_MODE`` (or ``mode=``): online, offline (journal only, ``assay sync`` later) and
disabled (calls checked, nothing kept: no disk, no network, no background thread)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import cli
from assay.errors import InvalidInput
from assay.store import open_store
from tests.conftest import QUIET

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_disabled_mode_from_the_environment_keeps_nothing_and_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASSAY_MODE", "disabled")
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journal"))
    threads = threading.active_count()
    with caplog.at_level(logging.WARNING, logger="assay"):
        run = assay.init(project="p", uri=UNREACHABLE, config={"lr": 0.1})  # default settings
    assert run.mode == "disabled"
    assay.log({"loss": 1.0})  # the module-level call reaches the disabled run
    run.log({"loss": 0.5}, step=3)
    run.config["batch"] = 32
    run.summary["best"] = 0.9
    run.tags = ["a"]
    run.notes = "n"
    assert run.log_artifact(tmp_path) is None
    assert run.flush() is True
    assert threading.active_count() == threads  # no writer, capture or monitor thread
    assert run.finish() is True
    assert assay.active_run() is None
    assert caplog.records == []  # the unreachable store was never contacted
    assert files_under(tmp_path) == []  # no store, no journal


def test_disabled_mode_still_names_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_MODE", "disabled")
    with assay.init(project="p") as run, pytest.raises(InvalidInput, match="loss"):
        run.log({"loss": "high"})


def test_offline_mode_from_the_environment_journals_until_sync(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_MODE", "offline")
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"x": 1.0})
        run.log({"x": 2.0})
    assert run.mode == "offline"
    assert not (Path(store_uri) / "assay.db").exists()  # nothing reached the store
    result = CliRunner().invoke(cli, ["sync", "--uri", store_uri])
    assert result.exit_code == 0, result.output
    store = open_store(store_uri)
    try:
        got = store.runs.get(run.id)
        assert got.status == "finished" and got.metrics["x"].count == 2
    finally:
        store.close()


def test_an_explicit_mode_wins_over_the_environment(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_MODE", "offline")
    with assay.init(project="p", uri=store_uri, mode="online", settings=QUIET) as run:
        run.log({"x": 1.0})
    store = open_store(store_uri)
    try:
        assert store.runs.get(run.id).metrics["x"].count == 1
    finally:
        store.close()


def test_online_is_the_default(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSAY_MODE", raising=False)
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        assert run.mode == "online"
    store = open_store(store_uri)
    try:
        store.runs.get(run.id)
    finally:
        store.close()


def test_an_unknown_mode_is_refused_naming_where_it_came_from(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_MODE", "sometimes")
    with pytest.raises(InvalidInput, match="ASSAY_MODE='sometimes'"):
        assay.init(project="p", uri=store_uri, settings=QUIET)
    with pytest.raises(InvalidInput, match="mode 'never'"):
        assay.init(project="p", uri=store_uri, mode="never", settings=QUIET)
    assert not Path(store_uri).exists()  # refused before anything was opened
