"""``assay runs ls|show`` and ``assay projects ls``; the management commands (rm, restore,
mv, rename, tag, edit) live in cli/run_admin.py."""

from __future__ import annotations

import difflib
import json
from typing import Any

import click
import msgspec
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from assay.cli import run_admin
from assay.cli.admin import grant
from assay.cli.main import reports_errors, uri_option, wide_console
from assay.errors import NotFound
from assay.present import column_path, column_titles, default_columns, field_value
from assay.records import summary_of
from assay.sdk.api import Api, ApiRun
from assay.text import fmt, fmt_duration, when

STATUS_STYLE = {
    "running": "bold blue",
    "finished": "green",
    "failed": "bold red",
    "killed": "yellow",
    "crashed": "bold magenta",
}


@click.group()
def runs() -> None:
    """List and inspect runs."""


for _command in run_admin.COMMANDS:
    runs.add_command(_command)


@runs.command("ls")
@click.option("--project", "-p", default="default", show_default=True)
@click.option(
    "--filter", "-f", "filter_", default=None, help='e.g. "config.lr < 0.05 and summary.acc > 0.9"'
)
@click.option("--sort", "-s", multiple=True, help="Field to sort by; '-' prefix for descending.")
@click.option(
    "--columns",
    "-c",
    default=None,
    help="Comma-separated fields to show, e.g. config.lr,summary.acc",
)
@click.option("--limit", "-n", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--deleted", is_flag=True, help="List the deleted runs gc has not purged yet.")
@uri_option
@reports_errors
def ls(
    project: str,
    filter_: str | None,
    sort: tuple[str, ...],
    columns: str | None,
    limit: int,
    *,
    as_json: bool,
    deleted: bool,
    uri: str | None,
) -> None:
    """List a project's runs as a table."""
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    paths = [column_path(c) for c in chosen or ()]  # an unknown field fails before any query
    with Api(uri) as api:
        found = api.runs(project, filter=filter_, order_by=list(sort), limit=limit, deleted=deleted)
        total = api.count_runs(project, filter_, deleted=deleted)
        if not found and not deleted:
            check_project(api, project)
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in found], indent=2, default=str))
        return
    if chosen is None:  # config and summary keys as stored, which no filter may be able to name
        chosen = default_columns(r.record for r in found)
        paths = [tuple(c.split(".", 1)) for c in chosen]
    kind = "deleted runs" if deleted else "runs"
    table = Table(title=f"{project}: {len(found)} of {total} {kind}", header_style="bold")
    for head in ("id", "name", "status", "created", "duration"):
        table.add_column(head, no_wrap=True)
    for title in column_titles(chosen):
        table.add_column(escape(title), justify="right")
    for r in found:
        table.add_row(
            r.id,
            escape(r.name),
            f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
            when(r.created_at),
            fmt_duration(r.duration),
            *(escape(fmt(field_value(r.record, path))) for path in paths),
        )
    wide_console().print(table)


def check_project(api: Api, project: str) -> None:
    """NotFound, with the closest names, when no project is called ``project``."""
    names = [p.name for p in api.projects()]
    if project in names:
        return
    close = difflib.get_close_matches(project, names, n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(repr(n) for n in close) + "?"
    elif names:
        hint = "projects: " + ", ".join(sorted(names)[:10])
    else:
        hint = "the store has no projects yet"
    raise NotFound(f"no project {project!r} ({hint})")


@runs.command("show")
@click.argument("run_id")
@uri_option
@reports_errors
def show(run_id: str, uri: str | None) -> None:
    """Show one run: overview, config, summary and metrics."""
    with Api(uri) as api:
        r = api.run(run_id)
    console = wide_console()
    console.print(
        f"[bold]{r.project}/{r.name}[/]  {r.id}  [{STATUS_STYLE.get(r.status, '')}]{r.status}[/]"
    )
    console.print(
        f"created {when(r.created_at)}, ran {fmt_duration(r.duration)}"
        + (f", tags: {', '.join(r.tags)}" if r.tags else "")
    )
    host = r.host
    if host.get("argv"):
        console.print(f"command: {' '.join(host['argv'])}  on {host.get('hostname')}")
    git = host.get("git") or {}
    if git.get("commit"):
        console.print(
            f"git: {git['commit'][:12]} ({git.get('branch')}){' dirty' if git.get('dirty') else ''}"
        )
    if r.deleted_at is not None:
        console.print(
            f"[yellow]deleted {when(r.deleted_at)}[/]: `assay runs restore {r.id}` brings it back"
        )
    if r.notes:
        console.print(f"notes: {r.notes}")
    console.print(_tree("config", r.config))
    table = Table("metric", "last", "min", "max", "count", "last step", title="metrics")
    for key, m in sorted(r.metrics.items()):
        table.add_row(key, fmt(m.last), fmt(m.min), fmt(m.max), str(m.count), str(m.last_step))
    console.print(table)
    if r.record.summary:
        console.print(_tree("summary", r.record.summary))
    if r.traceback:
        console.print(f"[red]{r.traceback}[/]")


@click.group()
def projects() -> None:
    """List projects."""


projects.add_command(grant)


@projects.command("ls")
@uri_option
@reports_errors
def projects_ls(uri: str | None) -> None:
    """List projects with their run counts and last activity."""
    with Api(uri) as api:
        found = api.projects()
    table = Table("project", "runs", "last activity", header_style="bold")
    for p in found:
        table.add_row(p.name, str(p.run_count), when(p.last_activity))
    wide_console().print(table)


def _tree(title: str, data: dict[str, Any]) -> Tree:
    tree = Tree(f"[bold]{title}[/]")
    for key, value in data.items():
        if isinstance(value, dict):
            tree.add(_tree(key, value))
        else:
            tree.add(f"{key}: {value!r}")
    return tree


def _as_dict(r: ApiRun) -> dict[str, Any]:
    """Every field of the run record; ``summary`` as the filter language reads it (the run's
    summary over each metric's last value) and ``duration`` in seconds."""
    record: dict[str, Any] = msgspec.to_builtins(r.record)
    return record | {"summary": summary_of(r.record), "duration": r.duration}
