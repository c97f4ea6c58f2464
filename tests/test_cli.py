from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import cli, reports_errors
from assay.errors import StoreUnavailable
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


def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if "│" in line or "┃" in line]


def test_runs_ls_columns_take_every_field_the_filter_language_takes(seeded_uri: str) -> None:
    columns = "metrics.train/loss.min,metrics.acc.count,metrics.acc.step,config.lr,tags,status"
    code, out = invoke(
        "runs", "ls", "-p", "digits", "--uri", seeded_uri, "-s", "config.lr", "-c", columns
    )
    assert code == 0, out
    first = _rows(out)[1]  # header, then the run with lr 0.01 (acc 0.95, loss 0.05)
    cells = [c.strip() for c in first.split("│")[6:-1]]
    assert cells == ["0.05", "1", "0", "0.01", "['t']", "finished"]


def test_runs_ls_column_with_backquoted_segment_and_summary_of_a_metric(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"val loss": 0.25})
    code, out = invoke(
        "runs",
        "ls",
        "-p",
        "p",
        "--uri",
        store_uri,
        "-c",
        "metrics.`val loss`.max,summary.`val loss`",
    )
    assert code == 0, out
    assert [c.strip() for c in _rows(out)[1].split("│")[6:-1]] == ["0.25", "0.25"]


def test_runs_ls_unknown_column_is_an_error_naming_it(seeded_uri: str) -> None:
    code, out = invoke("runs", "ls", "-p", "digits", "--uri", seeded_uri, "-c", "metric.acc")
    assert code == 1 and "unknown field 'metric.acc'" in out


def test_runs_ls_unknown_project_is_not_found_with_close_names(seeded_uri: str) -> None:
    code, out = invoke("runs", "ls", "-p", "digitz", "--uri", seeded_uri)
    assert code == 1
    assert "no project 'digitz'" in out and "did you mean 'digits'" in out
    assert "0 of 0" not in out


def test_runs_ls_known_project_with_no_matching_runs_is_not_an_error(seeded_uri: str) -> None:
    code, out = invoke("runs", "ls", "-p", "digits", "--uri", seeded_uri, "-f", "summary.acc > 2")
    assert code == 0 and "0 of 0 runs" in out


def test_runs_ls_qualifies_column_titles_only_when_they_collide(store_uri: str) -> None:
    for lr in (0.1, 0.2):
        with assay.init(project="p", config={"lr": lr}, uri=store_uri, settings=QUIET) as run:
            run.log({"lr": lr / 10, "acc": 0.5})
    code, out = invoke("runs", "ls", "-p", "p", "--uri", store_uri)
    header = _rows(out)[0]
    assert code == 0 and "config.lr" in header and "summary.lr" in header, out
    assert "summary.acc" not in header and " acc " in header
    code, out = invoke("runs", "ls", "-p", "p", "--uri", store_uri, "-c", "config.lr,summary.acc")
    header = _rows(out)[0]
    assert " lr " in header and "config.lr" not in header


def test_runs_ls_json_carries_every_field_of_the_run(store_uri: str) -> None:
    with assay.init(
        project="p", group="sweep-1", job_type="train", notes="n", uri=store_uri, settings=QUIET
    ) as run:
        run.log({"loss": 0.5})
        run.log({"loss": 0.25})
    code, out = invoke("runs", "ls", "-p", "p", "--uri", store_uri, "--json")
    (row,) = json.loads(out)
    assert code == 0
    assert row["group"] == "sweep-1" and row["job_type"] == "train" and row["notes"] == "n"
    for key in ("updated_at", "heartbeat_at", "host", "traceback", "duration"):
        assert key in row
    assert row["metrics"]["loss"] == {
        "last": 0.25,
        "min": 0.25,
        "max": 0.5,
        "count": 2,
        "last_step": 1,
    }
    assert row["summary"] == {"loss": 0.25}


def test_runs_ls_default_columns_with_keys_no_filter_could_name(store_uri: str) -> None:
    for rate in (0.1, 0.2):
        with assay.init(
            project="p", config={"learning rate": rate}, uri=store_uri, settings=QUIET
        ) as run:
            run.log({"val acc": rate * 4})
    code, out = invoke("runs", "ls", "-p", "p", "--uri", store_uri, "-s", "config.`learning rate`")
    assert code == 0, out
    assert [c.strip() for c in _rows(out)[1].split("│")[6:-1]] == ["0.1", "0.4"]


def test_runs_ls_shows_values_that_look_like_markup_as_they_are(store_uri: str) -> None:
    with assay.init(project="p", config={"note": "[bold]x"}, uri=store_uri, settings=QUIET):
        pass
    code, out = invoke("runs", "ls", "-p", "p", "--uri", store_uri, "-c", "config.note")
    assert code == 0 and "[bold]x" in out


def test_command_errors_hide_a_password_quoted_in_the_message() -> None:
    @click.command()
    @reports_errors
    def failing() -> None:
        raise StoreUnavailable("cannot reach postgresql://ana:hunter2@db.example/x")

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "postgresql://ana:***@db.example/x" in result.output


def test_ui_on_a_busy_port_names_the_port_and_prints_no_url(tmp_path: Path) -> None:
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        result = CliRunner().invoke(
            cli, ["ui", "--uri", str(tmp_path / "s"), "--port", str(port), "--no-browser"]
        )
    finally:
        busy.close()
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.output
    assert "Assay UI on" not in result.output


def test_a_missing_extra_is_named_with_its_pip_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.errors import MissingExtra

    with assay.init(project="p", uri=str(tmp_path / "s"), settings=QUIET) as run:
        run.log({"x": 1.0})
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if the tables extra were absent
    api = assay.Api(str(tmp_path / "s"))
    with pytest.raises(MissingExtra, match=r"pip install 'assay\[tables\]'"):
        api.run(run.id).history(["x"])
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(cli, ["ui", "--uri", str(tmp_path / "s"), "--no-browser"])
    assert result.exit_code == 1
    assert "'assay ui' needs uvicorn, which the 'server' extra brings" in result.output
