"""The files of a folder being logged, with a rule for every symbolic link in it.

* A link whose target lies inside the folder is followed (files and directories), and
  what it points at is stored under the link's path.
* A link pointing outside the folder is refused, naming the link and its target, unless
  the caller opts in with ``follow_symlinks=True``.
* A broken link, a link that makes a cycle, an unreadable directory and anything that is
  neither a regular file nor a directory (a pipe, a socket, a device) are refused too.

Nothing is left out silently: the walk either lists every file or raises ``InvalidInput``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from assay.errors import InvalidInput


def files_of(
    root: Path, follow_symlinks: bool = False, wanted: Callable[[str], bool] | None = None
) -> list[tuple[str, Path]]:
    """(path relative to ``root`` in POSIX form, local file to read) for every file under
    ``root``, sorted by path. A followed link is read from its resolved target, so the
    file checked here is the file uploaded later. With ``wanted``, only the paths it
    accepts are listed, and a broken link or special file it does not accept is no error
    (a glob that does not match it did not ask for it)."""
    return _Walk(root, follow_symlinks, wanted or (lambda inner: True)).run()


class _Walk:
    def __init__(self, root: Path, follow_symlinks: bool, wanted: Callable[[str], bool]) -> None:
        self.root = root
        self.real_root = Path(os.path.realpath(root))
        self.follow_symlinks = follow_symlinks
        self.wanted = wanted
        self.found: list[tuple[str, Path]] = []

    def run(self) -> list[tuple[str, Path]]:
        self._visit(self.real_root, "", (self.real_root,))
        return sorted(self.found)

    def _visit(self, folder: Path, prefix: str, chain: tuple[Path, ...]) -> None:
        """Every entry of ``folder``; ``chain`` holds the real directories above it."""
        for name in _names(folder, self.root / prefix):
            self._entry(folder / name, prefix + name, chain)

    def _entry(self, local: Path, inner: str, chain: tuple[Path, ...]) -> None:
        real = self._through_link(local, inner, chain) if local.is_symlink() else local
        if real is None:
            return
        if real.is_dir():
            self._visit(real, inner + "/", (*chain, real))
        elif not self.wanted(inner):
            return
        elif real.is_file():
            self.found.append((inner, real))
        else:
            raise InvalidInput(
                f"{self.root / inner} is not a regular file or a directory (a pipe, "
                "socket or device); remove it from the folder or add files one by one"
            )

    def _through_link(self, link: Path, inner: str, chain: tuple[Path, ...]) -> Path | None:
        """The real path a link stands for, or InvalidInput naming the link (None: a
        broken link that is not wanted)."""
        shown = self.root / inner
        written = os.readlink(link)
        target = Path(os.path.realpath(link))
        if not target.exists():
            if not self.wanted(inner):
                return None
            raise InvalidInput(
                f"broken symbolic link {shown} -> {written}: its target does not exist "
                "(or the links loop); remove the link or restore its target"
            )
        if target in chain:
            raise InvalidInput(
                f"symbolic link {shown} -> {written} points at a folder that contains it "
                "(a cycle); remove the link or log the folder it points at"
            )
        if not self.follow_symlinks and not target.is_relative_to(self.real_root):
            raise InvalidInput(
                f"symbolic link {shown} points outside {self.root}, to {target}; pass "
                "follow_symlinks=True to add_dir to store what it points at, record it with "
                f"add_reference('file://{target}'), or remove the link"
            )
        return target


def _names(folder: Path, shown: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        raise InvalidInput(f"cannot list the folder {shown}: {exc.strerror or exc}") from exc
