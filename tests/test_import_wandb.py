"""`assay import wandb`: run files written by the real W&B SDK in offline mode, every
history point imported with its step and time, idempotent, damaged files named."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.errors import ImportIncomplete
from assay.store import Store, open_store
from tests.conftest import StoreFactory

pytest.importorskip("wandb", reason="the wandb extra is not installed")

STEPS = 3000

SCRIPT = textwrap.dedent(
    """
    import numpy as np, wandb
    run = wandb.init(project="vision", name="resnet", config={"lr": 0.01, "layers": [64, 128]},
                     tags=["baseline"], notes="first try", group="sweep-1", job_type="train")
    for step in range(STEPS):
        row = {"train/loss": 1.0 / (step + 1)}
        if step % 100 == 0:
            row["val/acc"] = step / 10_000
        if step == 7:
            row["odd"] = float("nan")
            row["sample"] = wandb.Image(np.zeros((8, 8, 3), dtype=np.uint8))
        run.log(row, step=step)
    run.summary["best_acc"] = 0.42
    print("epoch done")
    run.finish()
    failed = wandb.init(project="vision", name="broken")
    failed.log({"loss": 5.0}, step=0)
    failed.finish(exit_code=3)
    """
).replace("STEPS", str(STEPS))


def write_offline(root: Path) -> Path:
    """Run SCRIPT with the real W&B SDK offline in ``root``; its ``wandb`` folder."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true"}
    env["WANDB_CONFIG_DIR"] = str(root / "config")
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, env=env, check=True, timeout=300)
    return root / "wandb"


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_offline(tmp_path_factory.mktemp("wandb-offline"))


def _run(store: Store, name: str) -> tuple[str, dict[str, np.ndarray]]:
    (run,) = [r for r in store.runs.list("vision", limit=100) if r.name == name]
    return run.id, {k: c.values for k, c in store.runs.history(run.id).items()}


def test_offline_runs_import_with_every_point_and_their_settings(
    offline: Path, store_factory: StoreFactory
) -> None:
    from assay.importers.wandb import import_wandb

    store = store_factory()
    done = import_wandb(store, offline)
    assert done.runs == 2 and done.skipped["history image-file"] == 1
    run_id, values = _run(store, "resnet")
    assert run_id.startswith("wb-")
    assert np.array_equal(values["train/loss"], 1.0 / np.arange(1, STEPS + 1))
    assert len(values["val/acc"]) == STEPS // 100 and np.isnan(values["odd"]).all()
    steps = store.runs.history(run_id)["val/acc"].steps
    assert steps.tolist() == list(range(0, STEPS, 100))
    run = store.runs.get(run_id)
    assert run.config == {"lr": 0.01, "layers": [64, 128]}
    assert (run.tags, run.notes, run.group, run.job_type) == (
        ["baseline"], "first try", "sweep-1", "train"
    )  # fmt: skip
    assert run.summary == {"best_acc": 0.42} and run.status == "finished"
    assert run.host["imported_from"].endswith(f"vision/{run_id[3:]}")
    assert "epoch done" in [line.text for line in store.runs.log_lines(run_id)]
    broken = store.runs.get(_run(store, "broken")[0])
    assert broken.status == "failed"


def test_importing_again_changes_nothing(offline: Path, tmp_path: Path) -> None:
    from assay.importers.wandb import import_wandb

    store = open_store(tmp_path / "store")
    import_wandb(store, offline)
    lines = len(store.runs.log_lines(_run(store, "resnet")[0]))
    import_wandb(store, offline, project="vision")
    assert len(store.runs.list("vision")) == 2
    assert len(store.runs.log_lines(_run(store, "resnet")[0])) == lines
    store.close()


def test_a_damaged_run_file_is_named_and_the_others_come_in(offline: Path, tmp_path: Path) -> None:
    from assay.importers.wandb import import_wandb

    copy = tmp_path / "copy"
    files = sorted(offline.rglob("run-*.wandb"))
    for i, file in enumerate(files):
        (copy / f"r{i}").mkdir(parents=True)
        (copy / f"r{i}" / file.name).write_bytes(file.read_bytes())
    damaged = copy / "r0" / files[0].name
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    store = open_store(tmp_path / "store")
    with pytest.raises(ImportIncomplete, match=rf"r0/{files[0].name}: .*damaged record"):
        import_wandb(store, copy)
    assert len(store.runs.list("vision")) == 1  # the other run, whole; none of the damaged
    store.close()


def test_the_cli_imports_and_names_what_it_did_not(offline: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["import", "wandb", str(offline), "--uri", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs" in result.output
    assert "not imported: 1 history image-file values" in result.output
