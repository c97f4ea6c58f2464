"""`assay export` and `assay import assay`: a project out to open files and back into any
store, checked point by point, idempotent, and honest about what did not come in."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from assay.artifacts.artifact import Artifact, log_artifact
from assay.cli.main import cli
from assay.errors import ImportIncomplete, InvalidInput
from assay.importers import export_project, import_export
from assay.importers.runs import writer_for
from assay.records import Batch, CreateRun, LogLines, UpdateRun
from assay.store import Store, open_store
from tests.conftest import StoreFactory, create_op, evaluation_draft, points

T0 = 1_700_000_000.0


def _run(store: Store, run_id: str, name: str, values: list[float], status: str) -> None:
    ops = [
        create_op(project="p", name=name, created_at=T0, config={"lr": 0.1, "deep": {"k": 2}}),
        points("loss", list(range(len(values))), values, at=T0 + 1),
        points("acc", [0, 10, 20], [0.5, 0.75, 0.875], at=T0 + 2),
        LogLines(lines=[(T0 + 1, "stdout", "epoch 1"), (T0 + 2, "stderr", "warn")]),
        UpdateRun(at=T0 + 3, summary={"best": 0.875}, status=status, notes="kept", tags=["a"]),
    ]
    assert store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=ops))


def _version(store: Store, tmp_path: Path, body: bytes, run_id: str, aliases: list[str]) -> str:
    folder = tmp_path / f"model-{body[:4].hex()}"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(body)
    (folder / "README.md").write_bytes(b"same in every version\n")
    art = Artifact("clf", type="model", metadata={"framework": "numpy"})
    art.add_dir(folder)
    return log_artifact(store, art, "p", run_id=run_id, aliases=aliases).id


def _project(store: Store, tmp_path: Path) -> None:
    """Two runs (one with NaN and 5,000 points), a model artifact in two versions, lineage,
    a registered model with alias moves, and two evaluations (one the other's baseline)."""
    _run(store, "run-a", "first", [float(v) for v in np.linspace(1, 0, 5000)], "finished")
    _run(store, "run-b", "second", [1.0, float("nan"), 0.5], "failed")
    rng = np.random.default_rng(0)
    v1 = _version(store, tmp_path, rng.bytes(300_000), "run-a", ["candidate"])
    v2 = _version(store, tmp_path, rng.bytes(300_000), "run-b", ["best"])
    store.artifacts.record_use("run-b", v1)
    store.models.register(v1, "clf", description="the classifier", tags={"team": "ml"})
    store.models.register(v2, "clf")
    store.models.set_alias("clf", "production", 1, reason="first", evidence="eval:1")
    store.models.set_alias("clf", "production", 2, reason="better")
    store.models.set_alias("clf", "staging", 1)
    base = store.evaluations.save(evaluation_draft(model_version_id=v1, run_id="run-a"))
    store.evaluations.save(
        evaluation_draft(
            name="suite-2", model_version_id=v2, baseline_id=base.id, report={"metrics": [1]}
        )
    )


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    source = open_store(tmp_path / "source")
    try:
        _project(source, tmp_path)
        export_project(source, "p", tmp_path / "export")
    finally:
        source.close()
    return tmp_path / "export"


def test_an_export_is_open_files_with_every_point(exported: Path) -> None:
    header = json.loads((exported / "assay-export.json").read_text())
    assert header["format"] == "assay-export/1"
    assert header["counts"]["runs"] == 2 and header["counts"]["points"] == 5000 + 3 + 6
    table = pq.read_table(exported / "metrics" / "run-a.parquet").to_pandas()
    loss = table[table.key == "loss"]
    assert len(loss) == 5000 and loss.step.tolist() == list(range(5000))
    runs = [json.loads(line) for line in (exported / "runs.jsonl").read_text().splitlines()]
    assert {r["id"]: r["status"] for r in runs} == {"run-a": "finished", "run-b": "failed"}
    files = exported / "files" / "clf"
    assert (files / "v0" / "weights.bin").stat().st_size == 300_000
    same = (files / "v0" / "README.md").stat(), (files / "v1" / "README.md").stat()
    assert same[0].st_ino == same[1].st_ino  # an identical file is linked, not copied
    audit = (exported / "audit.jsonl").read_text().splitlines()
    actions = {json.loads(line)["action"] for line in audit}
    assert {"run.created", "model.alias_moved", "evaluation.created"} <= actions


def test_export_then_import_round_trips_the_project(
    exported: Path, tmp_path: Path, store_factory: StoreFactory
) -> None:
    source = open_store(tmp_path / "source")
    target = store_factory()
    counts = import_export(target, exported)
    assert counts.runs == 2 and counts.points == 5009 and counts.alias_moves == 3
    for run_id in ("run-a", "run-b"):
        a, b = source.runs.get(run_id), target.runs.get(run_id)
        for field in ("project", "name", "status", "created_at", "finished_at", "config"):
            assert getattr(a, field) == getattr(b, field), field
        assert (a.summary, a.tags, a.notes) == (b.summary, b.tags, b.notes)
        ha, hb = source.runs.history(run_id), target.runs.history(run_id)
        assert ha.keys() == hb.keys()
        for key in ha:
            assert np.array_equal(ha[key].steps, hb[key].steps)
            assert np.array_equal(ha[key].times, hb[key].times)
            assert np.array_equal(ha[key].values, hb[key].values, equal_nan=True)
        assert [(x.at, x.text) for x in source.runs.log_lines(run_id)] == [
            (x.at, x.text) for x in target.runs.log_lines(run_id)
        ]
    old, new = source.artifacts.versions("p", "clf"), target.artifacts.versions("p", "clf")
    assert [(v.version, v.digest, v.run_id, sorted(v.aliases)) for v in old] == [
        (v.version, v.digest, v.run_id, sorted(v.aliases)) for v in new
    ]
    used = [e for e in target.artifacts.lineage_edges(["run-b"], []) if e.kind == "used"]
    assert [e.version_id for e in used] == [new[0].id if new[0].version == 0 else new[1].id]
    assert target.models.get("clf").aliases == {"production": 2, "staging": 1}
    moves = target.models.alias_history("clf")
    assert sorted((m.alias, m.version, m.reason, m.evidence) for m in moves) == sorted(
        (m.alias, m.version, m.reason, m.evidence) for m in source.models.alias_history("clf")
    )
    evaluations = {e.name: e for e in target.evaluations.list(project="p")}
    assert evaluations["suite-2"].baseline_id == evaluations["suite"].id
    assert len(target.evaluations.items(evaluations["suite"].id)) == 2
    source.close()


def test_importing_the_same_export_twice_changes_nothing(exported: Path, tmp_path: Path) -> None:
    target = open_store(tmp_path / "target")
    first = import_export(target, exported)
    history = target.models.alias_history("clf")
    second = import_export(target, exported)
    assert first == second
    assert len(target.models.alias_history("clf")) == len(history)
    assert len(target.evaluations.list(project="p")) == 2
    assert len(target.artifacts.versions("p", "clf")) == 2
    assert len(target.runs.history("run-a")["loss"]) == 5000
    assert len(target.runs.log_lines("run-a")) == 2  # not appended again
    target.close()


def test_a_damaged_export_imports_what_it_can_and_names_the_rest(
    exported: Path, tmp_path: Path
) -> None:
    (exported / "metrics" / "run-b.parquet").unlink()
    (exported / "files" / "clf" / "v1" / "weights.bin").write_bytes(b"tampered")
    target = open_store(tmp_path / "target")
    with pytest.raises(ImportIncomplete) as failure:
        import_export(target, exported)
    message = str(failure.value)
    assert "run run-b: run-b.parquet is missing" in message
    assert "artifact clf:v1" in message and "weights.bin" in message
    assert "runs: expected 2, found 1" in message
    assert [r.id for r in target.runs.list("p")] == ["run-a"]  # never half a run
    assert len(target.runs.history("run-a")["loss"]) == 5000
    target.close()


def test_a_run_id_taken_by_another_run_is_not_overwritten(exported: Path, tmp_path: Path) -> None:
    target = open_store(tmp_path / "target")
    mine = CreateRun(
        project="p", name="someone else's", created_at=T0 + 99, config={}, tags=[],
        notes=None, group=None, job_type=None, host={},
    )  # fmt: skip
    target.runs.write_batch(Batch(run_id="run-a", writer="w", seq=0, ops=[mine]))
    with pytest.raises(ImportIncomplete, match=r"run run-a: .*a different run"):
        import_export(target, exported)
    assert target.runs.get("run-a").name == "someone else's"
    assert "loss" not in target.runs.history("run-a")
    target.close()


def test_writer_ids_are_stable_per_source_run_and_fit_the_store() -> None:
    assert writer_for("mlflow:x", "r1") == writer_for("mlflow:x", "r1")
    assert writer_for("mlflow:x", "r1") != writer_for("mlflow:x", "r2")
    assert len(writer_for("mlflow:" + "x" * 500, "r" * 500)) == 32


def test_export_refuses_a_folder_in_use_and_an_unknown_project(
    tmp_path: Path, exported: Path
) -> None:
    source = open_store(tmp_path / "source")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        export_project(source, "p", exported)
    with pytest.raises(InvalidInput, match="project 'nope' has no runs"):
        export_project(source, "nope", tmp_path / "other")
    assert not (tmp_path / "other").exists() and not (tmp_path / "other.partial").exists()
    source.close()


def test_the_cli_exports_imports_and_exits_1_on_a_bad_folder(tmp_path: Path) -> None:
    source = open_store(tmp_path / "source")
    _run(source, "run-a", "first", [1.0, 2.0], "finished")
    source.close()
    runner = CliRunner()
    out = tmp_path / "out"
    done = runner.invoke(cli, ["export", "p", "--to", str(out), "--uri", str(tmp_path / "source")])
    assert done.exit_code == 0, done.output
    assert "exported p" in done.output and "1 runs" in done.output
    back = runner.invoke(cli, ["import", "assay", str(out), "--uri", str(tmp_path / "t")])
    assert back.exit_code == 0, back.output
    assert "1 runs, 5 points, 2 log lines" in back.output
    bad = tmp_path / "bad"
    bad.mkdir()
    refused = runner.invoke(cli, ["import", "assay", str(bad), "--uri", str(tmp_path / "t")])
    assert refused.exit_code == 1 and "not an Assay export" in refused.output
    assert time.time() > T0
