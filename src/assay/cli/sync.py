"""``assay sync``: deliver journals that were not delivered (offline runs, dead processes)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from assay.cli.main import reports_errors, uri_option
from assay.redact import redact_uri
from assay.sdk import journal as jnl
from assay.sdk.sync import SyncReport, sync
from assay.store.base import Store, journal_root, open_store, resolve_uri


@click.command("sync")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@uri_option
@click.option(
    "--to",
    "to",
    default=None,
    help="Deliver every journal to this store, whatever store it was meant for.",
)
@reports_errors
def sync_command(path: Path | None, uri: str | None, to: str | None) -> None:
    """Deliver the journals under PATH (default: the journal folder of --uri's store).

    Each journal goes to the store its run was logging to (recorded beside it); one
    without that record goes to --uri's store; --to sends them all to one store."""
    resolved = resolve_uri(uri)
    root = path or journal_root(resolved)
    console = Console(soft_wrap=True)  # paths and URIs stay on one line
    if not root.exists():
        console.print(f"nothing to sync: {root} does not exist")
        return
    total = len(jnl.journals_under(root))
    target: Store | None = open_store(to) if to else None
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("syncing journals", total=total)
            report = sync(
                root,
                target,
                progress=lambda _p: progress.advance(task),
                default_uri=resolved,
            )
    finally:
        if target is not None:
            target.close()
    _print(console, report)
    if report.failed:
        raise click.exceptions.Exit(1)


def _print(console: Console, report: SyncReport) -> None:
    console.print(
        f"synced {report.journals} journal(s): {report.batches} batch(es) delivered, "
        f"{report.duplicates} already there"
    )
    counts: dict[str, int] = {}
    for store in report.delivered_to.values():
        counts[store] = counts.get(store, 0) + 1
    for store, n in counts.items():
        console.print(f"{n} journal(s) delivered to {escape(redact_uri(store))}")
    if report.rejected:
        console.print(
            f"{report.rejected} batch(es) refused by the store: kept in *.rejected files "
            "beside their journals"
        )
    for run_id in report.crashed:
        console.print(f"run {run_id}: its process is gone without finishing; marked crashed")
    for live in report.live:
        console.print(
            f"{escape(str(live))}: its writer is still running; delivered what it had so far"
        )
    for failed, why in report.failed.items():
        console.print(
            f"{escape(str(failed))}: not delivered ({escape(why)}); it stays for a later sync"
        )
