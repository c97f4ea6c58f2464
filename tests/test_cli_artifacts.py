"""``assay artifacts``, ``assay models`` and ``assay gc`` on an embedded store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import assay
from tests.conftest import QUIET
from tests.test_cli import invoke


@pytest.fixture
def seeded(store_uri: str, tmp_path: Path) -> str:
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    weights = tmp_path / "model"
    weights.mkdir()
    (weights / "w.bin").write_bytes(b"weights")
    with assay.init(project="digits", uri=store_uri, settings=QUIET) as run:
        run.log_artifact(data, name="digits-train", metadata={"rows": 1})
        run.log_artifact(weights, name="digits-model", type="model")
    with assay.init(project="digits", uri=store_uri, settings=QUIET) as run:
        run.use_artifact("digits-train:latest")
    return store_uri


def test_artifacts_ls_and_show(seeded: str) -> None:
    code, out = invoke("artifacts", "ls", "-p", "digits", "--uri", seeded)
    assert code == 0 and "digits-train" in out and "digits-model" in out
    code, out = invoke("artifacts", "ls", "digits-train", "-p", "digits", "--uri", seeded)
    assert code == 0 and "v0" in out and "latest" in out
    code, out = invoke("artifacts", "show", "digits-train:v0", "-p", "digits", "--uri", seeded)
    assert code == 0 and "train.csv" in out and "used by runs" in out and '"rows": 1' in out
    code, out = invoke("artifacts", "show", "digits/digits-train:latest", "--json", "--uri", seeded)
    assert json.loads(out)["files"][0]["path"] == "train.csv"


def test_artifacts_download_and_alias(seeded: str, tmp_path: Path) -> None:
    target = tmp_path / "out"
    code, out = invoke(
        "artifacts",
        "download",
        "digits-train:v0",
        "-p",
        "digits",
        "-o",
        str(target),
        "--uri",
        seeded,
    )
    assert code == 0 and (target / "train.csv").read_text() == "x,y\n1,2\n"
    code, out = invoke(
        "artifacts", "alias", "digits-train:v0", "gold", "-p", "digits", "--uri", seeded
    )
    assert code == 0 and "gold now points at digits/digits-train:v0" in out
    code, out = invoke("artifacts", "show", "digits-train:gold", "-p", "digits", "--uri", seeded)
    assert code == 0 and "gold" in out
    code, out = invoke(
        "artifacts", "alias", "digits-train:v0", "latest", "-p", "digits", "--uri", seeded
    )
    assert code == 1 and "moved by Assay itself" in out
    code, out = invoke("artifacts", "show", "digits-train:v9", "-p", "digits", "--uri", seeded)
    assert code == 1 and "no version 'v9'" in out


def test_models_register_alias_show(seeded: str) -> None:
    code, out = invoke(
        "models",
        "register",
        "digits-model:v0",
        "digits-classifier",
        "-p",
        "digits",
        "--uri",
        seeded,
    )
    assert code == 0 and "version 1" in out
    code, out = invoke(
        "models",
        "alias",
        "digits-classifier",
        "production",
        "1",
        "-r",
        "best so far",
        "-e",
        "eval-1",
        "--uri",
        seeded,
    )
    assert code == 0 and "digits-classifier@production → version 1" in out
    code, out = invoke("models", "ls", "--uri", seeded)
    assert code == 0 and "@production→1" in out
    code, out = invoke("models", "show", "digits-classifier", "--uri", seeded)
    assert (
        code == 0 and "best so far" in out and "eval-1" in out and "digits/digits-model:v0" in out
    )
    code, out = invoke("models", "alias", "digits-classifier", "production", "--uri", seeded)
    assert code == 2 and "--remove" in out
    code, out = invoke(
        "models", "register", "digits-train:v0", "x", "-p", "digits", "--uri", seeded
    )
    assert code == 1 and "only 'model' artifacts" in out


def test_models_traffic_sets_shows_and_clears_a_policy(seeded: str) -> None:
    for ref, alias in (("digits-model:v0", "production"), ("digits-model:v0", "candidate")):
        invoke("models", "register", ref, "clf", "-p", "digits", "--uri", seeded)
        invoke("models", "alias", "clf", alias, "1", "--uri", seeded)
    code, out = invoke("models", "traffic", "clf", "--uri", seeded)
    assert code == 0 and "no traffic policy" in out
    code, out = invoke(
        "models", "traffic", "clf", "production=90", "candidate=10",
        "--sticky", "header:x-user-id", "--shadow", "v1=20", "-r", "canary", "--uri", seeded,
    )  # fmt: skip
    assert code == 0 and "production (v1) 90%, candidate (v1) 10%" in out
    assert "sticky by header:x-user-id" in out and "shadow: 1 20%" in out and "canary" in out
    code, out = invoke("models", "traffic", "clf", "production=90", "candidate=20", "--uri", seeded)
    assert code == 1 and "the weights add up to 110, not 100" in out
    code, out = invoke("models", "traffic", "clf", "production", "--uri", seeded)
    assert code == 1 and "write ARM=PERCENT" in out
    code, out = invoke("models", "traffic", "clf", "--clear", "-r", "done", "--uri", seeded)
    assert code == 0 and "no traffic policy" in out
    code, out = invoke("models", "traffic", "clf", "--history", "--json", "--uri", seeded)
    found = json.loads(out)
    assert found["policy"] is None
    assert [h["reason"] for h in found["history"]] == ["done", "canary"]
    assert found["history"][1]["split"] == {"production": 90.0, "candidate": 10.0}


def test_gc_is_a_dry_run_unless_asked(seeded: str) -> None:
    from assay.store.sql.store import SqlStore

    store = SqlStore.embedded(Path(seeded))
    orphan = store.blobs.put(b"orphan")
    store.close()
    path = Path(seeded) / "blobs" / orphan[:2] / orphan[2:]
    code, out = invoke("gc", "--grace", "0", "--uri", seeded)
    assert code == 0 and "would remove 1 blobs" in out and path.exists()
    code, out = invoke("gc", "--grace", "0", "--delete", "--uri", seeded)
    assert code == 0 and "removed 1 blobs" in out and not path.exists()
    code, out = invoke("artifacts", "download", "digits-train:v0", "-p", "digits", "--uri", seeded)
    assert code == 0 and os.path.exists(os.path.join(out.strip(), "train.csv"))
    code, out = invoke("gc", "--grace", "-1", "--uri", seeded)
    assert code == 1 and "must not be negative" in out
    code, out = invoke("gc", "--uri", "http://127.0.0.1:9")
    assert code == 1 and "direct database access" in out


def test_artifacts_ls_of_a_mistyped_project_is_not_found_with_close_names(seeded: str) -> None:
    code, out = invoke("artifacts", "ls", "-p", "digit", "--uri", seeded)
    assert code == 1 and "no project 'digit'" in out and "did you mean 'digits'" in out
