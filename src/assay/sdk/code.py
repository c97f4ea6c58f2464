"""Code capture: the entry script (and files matching ``Settings.code_globs``) stored as a
``code`` artifact produced by the run, with or without git. Versions are named by their
content, so a script run a hundred times unchanged is stored once, each run linked to it
by lineage."""

from __future__ import annotations

import fnmatch
import logging
import re
import sys
from pathlib import Path

from assay.artifacts.artifact import Artifact, log_artifact
from assay.records import ArtifactVersion
from assay.sdk.capture import SECRET_FILES
from assay.store.base import Store

log = logging.getLogger("assay")
_ASSAY = Path(__file__).resolve().parent.parent  # the assay package: never the user's code

CODE_TYPE = "code"
MAX_FILES = 1000  # files a capture takes at most (globs matching more are cut, with a warning)
MAX_FILE_BYTES = 10 * 1024 * 1024  # a larger file is not code: left out


def entry_script(argv: list[str] | None = None) -> Path | None:
    """The script Python was started with, or None: a REPL, a notebook, ``python -c``,
    and tools rather than the user's code (a console script such as ``assay`` or
    ``pytest`` beside the interpreter, a module of an installed package, Assay itself)."""
    argv = sys.argv if argv is None else argv
    if not argv or not argv[0] or argv[0] in ("-c", "-"):
        return None
    path = Path(argv[0])
    if not path.is_file():
        return None
    path = path.resolve()
    interpreter = Path(sys.executable)
    beside = {interpreter.parent.resolve(), interpreter.resolve().parent}
    if path.is_relative_to(_ASSAY) or path.parent in beside:
        return None
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return None
    return path


def artifact_name(script: Path | None) -> str:
    """``source-<script>``: one artifact per entry script, its versions the script's
    contents over time; ``source-files`` when only globs chose the files."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", script.stem).strip("-.") if script else ""
    return f"source-{stem or 'files'}"[:128]


def _secret(path: Path) -> bool:
    name = path.name.lower()
    return any(fnmatch.fnmatch(name, pattern) for pattern in SECRET_FILES)


def chosen_files(root: Path, script: Path | None, globs: tuple[str, ...]) -> dict[str, Path]:
    """Artifact path -> file: the script (by its path under ``root``, else its name) and
    every file under ``root`` a glob matches, without files that usually hold secrets,
    files over 10 MiB, or anything outside ``root``."""
    files: dict[str, Path] = {}
    if script is not None and not _secret(script):
        files[_relative(script, root)] = script
    for pattern in globs:
        for path in sorted(root.glob(pattern)):
            if len(files) >= MAX_FILES:
                log.warning("assay: code capture keeps the first %d files only", MAX_FILES)
                return files
            resolved = path.resolve()
            if not resolved.is_file() or _secret(resolved) or not resolved.is_relative_to(root):
                continue
            if resolved.stat().st_size <= MAX_FILE_BYTES:
                files.setdefault(_relative(resolved, root), resolved)
    return files


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def capture_code(
    store: Store,
    *,
    project: str,
    run_id: str,
    root: Path,
    globs: tuple[str, ...],
    argv: list[str] | None = None,
) -> ArtifactVersion | None:
    """Log the entry script and the globbed files as a ``code`` artifact produced by the
    run; None when there is nothing to capture."""
    script = entry_script(argv)
    files = chosen_files(root.resolve(), script, globs)
    if not files:
        return None
    art = Artifact(
        artifact_name(script),
        type=CODE_TYPE,
        metadata={"entry": _relative(script, root.resolve()) if script else None},
    )
    for name, path in sorted(files.items()):
        art.add_file(path, name)
    return log_artifact(store, art, project, run_id=run_id, progress=False)
