"""Real processes: killed with SIGKILL, ended by SIGTERM, failing, and eight at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from assay.ids import new_run_id
from assay.sdk.sync import sync
from assay.store import open_store
from assay.store.base import journal_root

ROOT = Path(__file__).resolve().parent.parent


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.child", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_sigkilled_process_loses_nothing_it_flushed(store_uri: str, mode: str) -> None:
    run_id = new_run_id()
    with spawn(store_uri, mode, run_id, "forever") as child:
        assert child.stdout is not None and child.stderr is not None
        flushed = 0
        for line in child.stdout:
            flushed = int(line)
            if flushed >= 2000:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert flushed >= 2000, child.stderr.read()

    store = open_store(store_uri)
    report = sync(journal_root(store_uri), store)
    assert run_id in report.crashed
    run = store.runs.get(run_id)
    assert run.status == "crashed"
    series = store.runs.history(run_id, ["x"])["x"]
    assert len(series) >= flushed
    assert list(series.steps[:flushed]) == list(range(flushed))
    assert list(series.values[:flushed]) == [float(s) for s in range(flushed)]
    assert list(journal_root(store_uri).rglob("*.jnl")) == []
    assert sync(journal_root(store_uri), store).batches == 0  # a second sync has nothing to do
    store.close()


def test_a_second_process_cannot_resume_a_run_another_is_writing(store_uri: str) -> None:
    run_id = new_run_id()
    with spawn(store_uri, "online", run_id, "forever") as first:
        assert first.stdout is not None and first.stderr is not None
        flushed = 0
        for line in first.stdout:
            flushed = int(line)
            if flushed >= 500:
                break
        with spawn(store_uri, "online", run_id, "resume") as second:
            out, err = second.communicate(timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert second.returncode != 0 and out == "", err
    assert "Conflict" in err and f"run {run_id} is running" in err and "heard from" in err

    store = open_store(store_uri)
    assert run_id in sync(journal_root(store_uri), store).crashed
    steps = list(store.runs.history(run_id, ["x"])["x"].steps)
    assert steps == list(range(len(steps))) and len(steps) >= flushed  # nothing overwritten
    with spawn(store_uri, "online", run_id, "resume") as third:  # a crashed run may resume
        out, err = third.communicate(timeout=120)
    assert third.returncode == 0, err
    assert int(out) == len(steps)
    assert store.runs.get(run_id).metrics["x"].count == len(steps) + 1
    store.close()


def test_sigterm_marks_the_run_killed(store_uri: str) -> None:
    run_id = new_run_id()
    with spawn(store_uri, "online", run_id, "wait") as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == -signal.SIGTERM
    store = open_store(store_uri)
    run = store.runs.get(run_id)
    assert run.status == "killed" and run.finished_at is not None
    assert run.metrics["x"].count == 1
    store.close()


def test_uncaught_exception_marks_the_run_failed_with_its_traceback(store_uri: str) -> None:
    run_id = new_run_id()
    with spawn(store_uri, "online", run_id, "fail") as child:
        _, err = child.communicate(timeout=60)
    assert child.returncode == 1 and "boom in training" in err
    store = open_store(store_uri)
    run = store.runs.get(run_id)
    assert run.status == "failed"
    assert run.traceback is not None and "ValueError: boom in training" in run.traceback
    store.close()


@pytest.mark.slow
def test_eight_processes_log_into_one_sqlite_store(store_uri: str) -> None:
    steps = 10_000  # x 10 keys = 100k points per process
    run_ids = [new_run_id() for _ in range(8)]
    children = [spawn(store_uri, "online", run_id, "sweep", str(steps)) for run_id in run_ids]
    for child in children:
        with child:
            _, err = child.communicate(timeout=600)
        assert child.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err
    store = open_store(store_uri)
    for run_id in run_ids:
        run = store.runs.get(run_id)
        assert run.status == "finished"
        assert {k: m.count for k, m in run.metrics.items()} == {f"k{j}": steps for j in range(10)}
        history = store.runs.history(run_id)
        assert all(len(c) == steps for c in history.values())
        assert float(history["k3"].values.sum()) == sum(range(steps))
    store.close()
