"""Rich progress bars for the user's process: what ``assay.progress`` draws once the SDK (or
the CLI) is loaded. A bar shows on a terminal, or anywhere when forced."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from assay import progress
from assay.progress import Advance


@contextmanager
def bars(label: str, total: int, unit: str, *, force: bool = False) -> Iterator[Advance]:
    """Bytes get a transfer bar (size, speed, time left) on stderr; counts a plain one."""
    if unit == "bytes":
        with _transfer(label, total, force) as advance:
            yield advance
        return
    if not (force or sys.stderr.isatty()):
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def _transfer(label: str, total: int, force: bool) -> Iterator[Advance]:
    from rich.console import Console

    console = Console(stderr=True)
    if not (force or console.is_terminal):
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def install() -> None:
    """Draw this process's progress with rich bars."""
    progress.install(bars)
