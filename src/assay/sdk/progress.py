"""Rich progress bars for the user's process: what ``assay.progress`` draws once the SDK (or
the CLI) is loaded. A bar shows on a terminal, or anywhere when forced."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from assay import progress
from assay.progress import Advance

if TYPE_CHECKING:
    from rich.progress import ProgressColumn


@contextmanager
def bars(label: str, total: int, unit: str, *, force: bool = False) -> Iterator[Advance]:
    """On stderr (stdout stays the program's): bytes get a transfer bar (size, speed, time
    left), counts a plain one."""
    if not (force or sys.stderr.isatty()):
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    columns = _transfer_columns() if unit == "bytes" else Progress.get_default_columns()
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _transfer_columns() -> tuple[ProgressColumn, ...]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )


def install() -> None:
    """Draw this process's progress with rich bars."""
    progress.install(bars)
