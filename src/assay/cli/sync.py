"""``assay sync``: deliver journals that were not delivered (offline runs, dead processes)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress

from assay.cli.main import reports_errors, uri_option
from assay.sdk import journal as jnl
from assay.sdk.sync import sync
from assay.store.base import journal_root, open_store, resolve_uri


@click.command("sync")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@uri_option
@reports_errors
def sync_command(path: Path | None, uri: str | None) -> None:
    """Deliver the journals under PATH (default: the store's journal folder) to the store."""
    resolved = resolve_uri(uri)
    root = path or journal_root(resolved)
    console = Console()
    if not root.exists():
        console.print(f"nothing to sync: {root} does not exist")
        return
    total = len(jnl.journals_under(root))
    store = open_store(resolved)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("syncing journals", total=total)
            report = sync(root, store, progress=lambda _p: progress.advance(task))
    finally:
        store.close()
    console.print(
        f"synced {report.journals} journal(s): {report.batches} batch(es) delivered, "
        f"{report.duplicates} already there"
    )
    for run_id in report.crashed:
        console.print(f"run {run_id}: its process is gone without finishing; marked crashed")
    for live in report.live:
        console.print(f"{live}: its writer is still running; delivered what it had so far")
