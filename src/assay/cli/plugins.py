"""``assay plugins``: the model flavours and scorers Assay knows, built-in or installed
through entry points, and the plugins that failed to load (named, with their error)."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from assay.cli.main import wide_console
from assay.plugins import Entry


def _entries() -> list[Entry]:
    from assay.evaluation.scorers import SCORERS
    from assay.flavours.saved import FLAVOURS

    return [*FLAVOURS.entries(), *SCORERS.entries()]


@click.command("plugins")
def plugins_command() -> None:
    """List model flavours and scorers: built-in, from entry points, and broken plugins."""
    table = Table("group", "name", "source", "status")
    for entry in _entries():
        status = "ok" if entry.error is None else f"[red]failed: {escape(entry.error)}[/red]"
        table.add_row(entry.group, escape(entry.name), escape(entry.source), status)
    wide_console().print(table)
