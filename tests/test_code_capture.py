"""Code capture: a training script outside any git checkout is stored as a ``code``
artifact the run produced, once per content; the switch turns it off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import assay
from assay.sdk.code import artifact_name, chosen_files, entry_script

SCRIPT = """
import sys
import assay

settings = assay.Settings(
    capture_git=False, capture_packages=False, capture_console=False,
    system_metrics_interval=0, code_globs=("lib/*.py", "*.env"), capture_code={capture},
)
with assay.init(project="p", uri=sys.argv[1], settings=settings) as run:
    run.log({{"loss": 1.0}})
print(run.id)
"""


def train(folder: Path, store: str, capture: bool = True, version: str = "1") -> str:
    (folder / "train.py").write_text(SCRIPT.format(capture=capture) + f"# v{version}\n")
    done = subprocess.run(
        [sys.executable, "train.py", store],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def project_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "work"  # no git here
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "util.py").write_text("def f():\n    return 1\n")
    (folder / "lib" / "notes.txt").write_text("not matched")
    (folder / ".env").write_text("TOKEN=secret")
    return folder


def test_the_entry_script_and_globbed_files_are_stored_once_per_content(tmp_path: Path) -> None:
    folder, store = project_folder(tmp_path), str(tmp_path / "store")
    first, second = train(folder, store), train(folder, store)
    changed = train(folder, store, version="2")
    with assay.Api(store) as api:
        versions = api.artifact_versions("p", "source-train")
        assert sorted(v.version for v in versions) == [0, 1]
        assert {v.type for v in versions} == {"code"}
        v0 = api.artifact("p/source-train:v0")
        files = sorted(f.path for f in v0.manifest().files)
        assert files == ["lib/util.py", "train.py"]  # no .env, no unmatched file
        assert api.run(first).host["code"] == {"artifact": "p/source-train:v0", "files": 2}
        assert api.run(changed).host["code"]["artifact"] == "p/source-train:v1"
        produced = {e.run_id for e in api.store.artifacts.lineage_edges([first, second], [v0.id])}
        assert produced == {first, second}  # unchanged code: one version, both runs linked


def test_code_capture_can_be_turned_off(tmp_path: Path) -> None:
    folder, store = project_folder(tmp_path), str(tmp_path / "store")
    run_id = train(folder, store, capture=False)
    with assay.Api(store) as api:
        assert api.artifacts("p", type="code") == []
        assert "code" not in api.run(run_id).host


def test_no_script_means_nothing_to_capture(tmp_path: Path) -> None:
    assert entry_script(["-c"]) is None
    assert entry_script([""]) is None
    assert entry_script([str(tmp_path / "gone.py")]) is None
    assert entry_script([sys.executable]) is None
    console_script = Path(sys.executable).parent / "pytest"  # beside the interpreter
    assert console_script.exists() and entry_script([str(console_script)]) is None
    assert entry_script([str(Path(assay.__file__).parent / "__main__.py")]) is None  # assay
    assert chosen_files(tmp_path, None, ()) == {}
    assert artifact_name(None) == "source-files"
    assert artifact_name(Path("/x/my train!.py")) == "source-my-train"


def test_globs_never_reach_outside_the_working_directory(tmp_path: Path) -> None:
    inside = tmp_path / "in"
    inside.mkdir()
    (tmp_path / "outside.py").write_text("x = 1")
    (inside / "a.py").write_text("a = 1")
    found = chosen_files(inside, None, ("*.py", "../*.py"))
    assert sorted(found) == ["a.py"]
