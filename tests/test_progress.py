"""Progress: domain code opens bars through assay.progress; the SDK and the CLI draw them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assay import progress
from assay.artifacts.artifact import Artifact, download, log_artifact
from assay.progress import Advance
from assay.store import Store
from tests.conftest import artifact_files


class _Recorder:
    """A renderer that remembers every bar opened and how far it went."""

    def __init__(self) -> None:
        self.bars: list[tuple[str, int, str, bool]] = []
        self.done: list[int] = []

    @contextmanager
    def __call__(
        self, label: str, total: int, unit: str, *, force: bool = False
    ) -> Iterator[Advance]:
        self.bars.append((label, total, unit, force))
        self.done.append(0)

        def advance(n: int) -> None:
            self.done[-1] += n

        yield advance


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    before = progress.installed()
    rec = _Recorder()
    progress.install(rec)
    try:
        yield rec
    finally:
        progress.install(before)


def test_transfers_report_bytes_through_the_installed_renderer(
    recorder: _Recorder, store: Store, tmp_path: Path
) -> None:
    art = Artifact("data", type="dataset")
    art.add_dir(artifact_files(tmp_path, **{"a.bin": b"x" * 1000, "b.txt": b"hello"}))
    version = log_artifact(store, art, "p", progress=True)
    download(store, version, tmp_path / "out")
    assert recorder.bars == [("upload", 1005, "bytes", True), ("download", 1005, "bytes", False)]
    assert recorder.done == [1005, 1005]


def test_progress_false_opens_no_bar(recorder: _Recorder, store: Store, tmp_path: Path) -> None:
    art = Artifact("data", type="dataset")
    art.add_dir(artifact_files(tmp_path, **{"a.bin": b"x" * 10}))
    version = log_artifact(store, art, "p", progress=False)
    download(store, version, tmp_path / "out", progress=False)
    assert recorder.bars == []


def test_without_a_renderer_nothing_is_drawn_and_the_sdk_installs_rich_bars() -> None:
    code = (
        "from assay import progress; quiet = progress.installed() is progress.quiet; "
        "import assay.sdk; from assay.sdk.progress import bars; "
        "print(quiet, progress.installed() is bars)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_rich_bars_draw_only_on_a_terminal_unless_forced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from assay.sdk.progress import bars

    with bars("download", 10, "bytes") as advance:
        advance(10)
    with bars("evaluating", 3, "items") as advance:
        advance(3)
    assert capsys.readouterr().err == ""  # pytest's streams are not terminals
    with bars("download", 10, "bytes", force=True) as advance:
        advance(10)
    assert capsys.readouterr().err != ""  # forced: drawn (transient, so little is left)


@pytest.mark.parametrize("unit", ["bytes", "items"])
def test_forced_bars_draw_on_stderr_and_leave_stdout_to_the_program(
    capsys: pytest.CaptureFixture[str], unit: str
) -> None:
    from assay.sdk.progress import bars

    with bars("working", 3, unit, force=True) as advance:
        advance(3)
    drawn = capsys.readouterr()
    assert drawn.out == ""  # a program's stdout (JSON, CSV) must stay clean
    assert drawn.err != ""
