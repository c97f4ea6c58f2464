"""``assay audit ls`` and ``assay audit verify``."""

from __future__ import annotations

import click
from rich.table import Table

from assay.cli.main import reports_errors, secrets_hidden, uri_option, wide_console
from assay.store.base import open_sql_store
from assay.store.sql import audit as audit_log
from assay.text import when


@click.group()
def audit() -> None:
    """The tamper-evident audit log of every change."""


@audit.command("ls")
@click.option(
    "--target", default=None, help="Only records about this target, e.g. run:ID or user:NAME."
)
@click.option("--limit", "-n", default=50, show_default=True)
@uri_option
@reports_errors
def audit_ls(target: str | None, limit: int, uri: str | None) -> None:
    """The newest records first."""
    with secrets_hidden():
        store = open_sql_store(uri)
    try:
        found = audit_log.records(store.engine, target, limit, descending=True)
    finally:
        store.close()
    table = Table("seq", "time", "actor", "action", "target", "digest", header_style="bold")
    for r in found:
        table.add_row(str(r.seq), when(r.at), r.actor, r.action, r.target, r.digest[:12])
    wide_console().print(table)


@audit.command("verify")
@uri_option
@reports_errors
def audit_verify(uri: str | None) -> None:
    """Check the hash chain; exit 1 naming the first bad record if it is broken."""
    with secrets_hidden():
        store = open_sql_store(uri)
    try:
        verdict = audit_log.verify(store.engine)
    finally:
        store.close()
    if not verdict.ok:
        raise click.ClickException(
            f"audit log broken at record {verdict.first_bad}: {verdict.reason}"
        )
    click.echo(f"audit log intact: {verdict.records} records")
