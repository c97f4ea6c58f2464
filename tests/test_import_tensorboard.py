"""`assay import tensorboard`: event files written by a real writer (tensorboardX), every
scalar point imported (no 10,000-point sampling), idempotent, damaged files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.errors import ImportIncomplete, InvalidInput
from assay.store import Store, open_store
from tests.conftest import StoreFactory

pytest.importorskip("tensorboard", reason="the importers extra is not installed")
tensorboardX = pytest.importorskip("tensorboardX", reason="tensorboardX is not installed")

STEPS = 12_000  # more than EventAccumulator's default sample of 10,000


def _write(folder: Path, steps: int, start: int = 0) -> None:
    writer = tensorboardX.SummaryWriter(str(folder))
    for step in range(start, start + steps):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        if step % 1000 == 0:
            writer.add_scalar("val/acc", step / 20_000, step)
            writer.add_histogram("weights", np.arange(10.0), step)
    writer.close()


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    root = tmp_path / "tb"
    _write(root / "exp" / "a", STEPS)
    _write(root / "exp" / "b", 3)
    return root


def _history(store: Store, name: str) -> dict[str, np.ndarray]:
    (run,) = [r for r in store.runs.list("tb", limit=100) if r.name == name]
    return {k: c.values for k, c in store.runs.history(run.id).items()}


def test_every_scalar_point_is_imported_with_its_step_and_time(
    logdir: Path, store_factory: StoreFactory
) -> None:
    from assay.importers.tensorboard import import_tensorboard

    store = store_factory()
    done = import_tensorboard(store, logdir)
    assert (done.runs, done.points) == (2, STEPS + 12 + 3 + 1)
    assert done.skipped["histograms"] == 13
    values = _history(store, "exp/a")
    assert len(values["train/loss"]) == STEPS
    assert np.allclose(values["train/loss"], 1.0 / np.arange(1, STEPS + 1), rtol=1e-6)
    assert len(values["val/acc"]) == 12
    (run,) = [r for r in store.runs.list("tb") if r.name == "exp/a"]
    assert run.status == "finished" and run.finished_at is not None
    assert run.created_at <= run.finished_at


def test_reimporting_changes_nothing_and_a_restart_keeps_the_later_value(
    logdir: Path, tmp_path: Path
) -> None:
    from assay.importers.tensorboard import import_tensorboard

    store = open_store(tmp_path / "store")
    import_tensorboard(store, logdir)
    again = import_tensorboard(store, logdir)
    assert again.runs == 2
    assert len(store.runs.list("tb")) == 2
    assert len(_history(store, "exp/b")["train/loss"]) == 3
    restarted = tmp_path / "restart" / "r"
    _write(restarted, 3)
    writer = tensorboardX.SummaryWriter(str(restarted), filename_suffix=".second")
    writer.add_scalar("train/loss", 42.0, 1)  # the job resumed from step 1
    writer.close()
    import_tensorboard(store, restarted.parent, project="tb")
    assert _history(store, "r")["train/loss"].tolist() == pytest.approx([1.0, 42.0, 1.0 / 3])
    store.close()


def test_a_damaged_event_file_is_named_and_other_runs_come_in(logdir: Path, tmp_path: Path) -> None:
    from assay.importers.tensorboard import import_tensorboard

    (file,) = (logdir / "exp" / "b").iterdir()
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside a record: its checksum fails
    file.write_bytes(bytes(data))
    store = open_store(tmp_path / "store")
    named = r"run exp/b: events\.out\.tfevents\.[^ ]+, after record"
    with pytest.raises(ImportIncomplete, match=named):
        import_tensorboard(store, logdir)
    assert [r.name for r in store.runs.list("tb")] == ["exp/a"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="holds no TensorBoard event files"):
        import_tensorboard(store, tmp_path / "empty")
    store.close()


def test_the_cli_imports_a_logdir_and_names_what_it_did_not_import(
    logdir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["import", "tensorboard", str(logdir), "--uri", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs" in result.output and "13 histograms values" in result.output
