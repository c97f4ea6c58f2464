from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import cli
from tests.conftest import QUIET


@pytest.fixture
def seeded_uri(store_uri: str) -> str:
    for lr, acc in [(0.1, 0.8), (0.01, 0.95)]:
        with assay.init(
            project="digits", config={"lr": lr}, tags=["t"], uri=store_uri, settings=QUIET
        ) as run:
            run.log({"acc": acc, "train/loss": 1 - acc})
    return store_uri


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_version() -> None:
    code, out = invoke("--version")
    assert code == 0 and assay.__version__ in out


def test_help_lists_every_group() -> None:
    code, out = invoke("--help")
    assert code == 0
    for name in ("runs", "projects", "sync", "demo", "server", "ui", "login", "users", "keys"):
        assert name in out


def test_runs_ls_filters_and_sorts(seeded_uri: str) -> None:
    code, out = invoke(
        "runs", "ls", "-p", "digits", "--uri", seeded_uri, "--filter", "summary.acc > 0.9"
    )
    assert code == 0 and "1 of 1 runs" in out and "0.95" in out and "0.8 " not in out
    code, out = invoke(
        "runs", "ls", "-p", "digits", "--uri", seeded_uri, "--sort", "-summary.acc", "--json"
    )
    rows = json.loads(out)
    assert [r["summary"]["acc"] for r in rows] == [0.95, 0.8]


def test_runs_ls_bad_filter_points_at_the_error(seeded_uri: str) -> None:
    code, out = invoke(
        "runs", "ls", "-p", "digits", "--uri", seeded_uri, "--filter", "summary.acc >>"
    )
    assert code == 1 and "position 13" in out and "^" in out


def test_runs_show(seeded_uri: str) -> None:
    run_id = assay.Api(seeded_uri).runs("digits")[0].id
    code, out = invoke("runs", "show", run_id, "--uri", seeded_uri)
    assert code == 0 and run_id in out and "train/loss" in out and "lr" in out


def test_runs_show_unknown_id(seeded_uri: str) -> None:
    code, out = invoke("runs", "show", "nope", "--uri", seeded_uri)
    assert code == 1 and "no run with id 'nope'" in out


def test_projects_ls(seeded_uri: str) -> None:
    code, out = invoke("projects", "ls", "--uri", seeded_uri)
    assert code == 0 and "digits" in out and "2" in out


def test_sync_delivers_offline_runs(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, mode="offline", settings=QUIET) as run:
        run.log({"x": 1.0})
    code, out = invoke("sync", "--uri", store_uri)
    assert code == 0 and "synced 1 journal(s)" in out
    assert assay.Api(store_uri).run(run.id).metrics["x"].count == 1


def test_sync_with_nothing_to_do(store_uri: str) -> None:
    code, out = invoke("sync", "--uri", store_uri)
    assert code == 0 and "nothing to sync" in out
