"""An import cut off midway (its source failing after some runs, a batch into a run, or
its process killed) finishes when run again: every run with each of its points and log
lines once, and the final count check passing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.importers import export_project, import_export, runs
from assay.importers.bundle import read_header
from assay.records import Batch, LogLines, UpdateRun
from assay.store import Store, open_store
from tests.conftest import StoreFactory, create_op, points

T0 = 1_700_000_000.0


class SourceLost(Exception):
    """The source (or the link to the target) going away midway."""


def _project(store: Store, n_runs: int, n_points: int) -> None:
    for k in range(n_runs):
        values = np.linspace(1.0, 0.0, n_points) + k
        ops = [
            create_op(project="p", name=f"run-{k}", created_at=T0 + k, config={"k": k}),
            points("loss", list(range(n_points)), values.tolist(), at=T0 + k + 1),
            points("acc", [0, 5], [0.25, 0.5], at=T0 + k + 2),
            LogLines(lines=[(T0 + k + 1, "stdout", f"epoch {e}") for e in range(3)]),
            UpdateRun(at=T0 + k + 3, status="finished", summary={"k": k}),
        ]
        store.runs.write_batch(Batch(run_id=f"run-{k}", writer="w", seq=0, ops=ops))


def _failing_after(calls: int, real: Callable[..., bool]) -> Callable[..., bool]:
    count = {"n": 0}

    def send(store: Store, batch: Batch) -> bool:
        count["n"] += 1
        if count["n"] > calls:
            raise SourceLost(f"gone after {calls} batches")
        return real(store, batch)

    return send


def _same_runs(source: Store, target: Store, n_runs: int) -> None:
    assert sorted(r.id for r in target.runs.list("p")) == sorted(f"run-{k}" for k in range(n_runs))
    for k in range(n_runs):
        a, b = source.runs.history(f"run-{k}"), target.runs.history(f"run-{k}")
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].steps.tolist() == b[key].steps.tolist()
            assert a[key].values.tolist() == b[key].values.tolist()
            assert a[key].times.tolist() == b[key].times.tolist()
        lines = [(x.at, x.text) for x in target.runs.log_lines(f"run-{k}")]
        assert lines == [(x.at, x.text) for x in source.runs.log_lines(f"run-{k}")]
        assert target.runs.get(f"run-{k}").status == "finished"


@pytest.mark.parametrize("calls", [1, 7, 12])
def test_an_import_cut_off_after_some_batches_finishes_on_the_next_run(
    calls: int, tmp_path: Path, store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 4,096 bytes cut each run into several: the source fails after the first
    batch, in the middle of the second run, and between runs."""
    source = open_store(tmp_path / "source")
    _project(source, n_runs=3, n_points=2000)
    export_project(source, "p", tmp_path / "export")
    monkeypatch.setattr(runs, "BATCH_BYTES", 4096)
    monkeypatch.setattr(runs, "POINTS_PER_OP", 500)
    monkeypatch.setattr(runs, "send_batch", _failing_after(calls, runs.send_batch))
    target = store_factory()
    with pytest.raises(SourceLost):
        import_export(target, tmp_path / "export")
    partial = sum(len(c) for r in target.runs.list("p") for c in target.runs.history(r.id).values())
    assert 0 < partial < 3 * 2002  # cut off midway: some points in, not all
    monkeypatch.undo()
    monkeypatch.setattr(runs, "BATCH_BYTES", 4096)  # the same cut as the first attempt
    monkeypatch.setattr(runs, "POINTS_PER_OP", 500)
    found = import_export(target, tmp_path / "export")
    assert found.differences(read_header(tmp_path / "export").counts) == []
    assert (found.runs, found.points, found.log_lines) == (3, 3 * 2002, 9)
    _same_runs(source, target, 3)


def test_a_wandb_import_cut_off_after_its_first_run_finishes_on_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    from assay.importers import wandb as importer
    from tests.test_import_wandb import write_offline

    folder = write_offline(tmp_path / "offline")
    store = open_store(tmp_path / "store")
    monkeypatch.setattr(runs, "BATCH_BYTES", 8192)
    original = importer.write_checked
    done: list[str] = []

    def first_only(target: Store, data: Any, source: str) -> None:
        if done:
            raise SourceLost("the second run file went away")
        done.append(data.id)
        original(target, data, source)

    monkeypatch.setattr(importer, "write_checked", first_only)
    with pytest.raises(SourceLost):
        importer.import_wandb(store, folder)
    assert [r.id for r in store.runs.list("vision")] == done
    monkeypatch.setattr(importer, "write_checked", original)
    again = importer.import_wandb(store, folder)
    assert again.runs == 2 and len(store.runs.list("vision")) == 2
    for run in store.runs.list("vision"):
        history = store.runs.history(run.id)
        for key, columns in history.items():
            assert len(np.unique(columns.steps)) == len(columns), key  # no point twice
    (resnet,) = [r for r in store.runs.list("vision") if r.name == "resnet"]
    assert len(store.runs.history(resnet.id)["train/loss"]) == 3000
    lines = [x.text for x in store.runs.log_lines(resnet.id)]
    assert lines.count("epoch done") == 1
    store.close()


@pytest.mark.slow
def test_an_import_process_killed_midway_finishes_on_the_next_run(tmp_path: Path) -> None:
    source = open_store(tmp_path / "source")
    _project(source, n_runs=30, n_points=50_000)
    export_project(source, "p", tmp_path / "export")
    target_uri = str(tmp_path / "target")
    command = [sys.executable, "-m", "assay", "import", "assay", str(tmp_path / "export")]
    command += ["--uri", target_uri]
    env = dict(os.environ)
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = 0
    while child.poll() is None and seen < 3:
        time.sleep(0.05)
        if (Path(target_uri) / "assay.db").exists():
            watcher = open_store(target_uri)
            seen = len(watcher.runs.list("p"))
            watcher.close()
    assert child.poll() is None, "the import ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    target = open_store(target_uri)
    assert 3 <= len(target.runs.list("p")) < 30
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "30 runs" in done.stdout
    _same_runs(source, target, 30)
    source.close()
    target.close()
