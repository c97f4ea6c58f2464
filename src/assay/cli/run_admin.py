"""``assay runs rm|restore|mv|rename|tag|edit``: manage runs (each change audited; against
a server, each needs the writer role on the run's project, and on the target of a move)."""

from __future__ import annotations

from collections.abc import Callable

import click

from assay.cli.main import reports_errors, uri_option
from assay.sdk.api import Api, ApiRun


def _each(uri: str | None, run_ids: tuple[str, ...], change: Callable[[ApiRun], str]) -> None:
    """Apply ``change`` to each run in turn, printing what it did."""
    with Api(uri) as api:
        for run_id in run_ids:
            run = api.run(run_id)
            click.echo(change(run))


@click.command("rm")
@click.argument("run_ids", nargs=-1, required=True)
@click.option(
    "--with-artifacts",
    is_flag=True,
    help="When the run is purged, remove the artifact versions it produced too "
    "(those no model, evaluation or other run uses).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@uri_option
@reports_errors
def rm(run_ids: tuple[str, ...], *, with_artifacts: bool, yes: bool, uri: str | None) -> None:
    """Delete runs (softly: hidden, restorable with `assay runs restore` until `assay gc`
    purges them, 30 days after deletion by default)."""
    if not yes:
        click.confirm(f"delete {len(run_ids)} run(s)?", abort=True)

    def delete(run: ApiRun) -> str:
        run.delete(with_artifacts=with_artifacts)
        return (
            f"deleted {run.id} ({run.project}/{run.name}); `assay runs restore {run.id}` undoes it"
        )

    _each(uri, run_ids, delete)


@click.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
@uri_option
@reports_errors
def restore(run_ids: tuple[str, ...], uri: str | None) -> None:
    """Restore deleted runs that gc has not purged yet (`assay runs ls --deleted` lists them)."""

    def undo(run: ApiRun) -> str:
        run.restore()
        return f"restored {run.id} ({run.project}/{run.name})"

    _each(uri, run_ids, undo)


@click.command("mv")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--to", "project", required=True, help="The project to move the runs to.")
@uri_option
@reports_errors
def mv(run_ids: tuple[str, ...], project: str, uri: str | None) -> None:
    """Move runs to another project (created if new; their artifacts stay where they are)."""

    def move(run: ApiRun) -> str:
        before = run.project
        run.move(project)
        return f"moved {run.id} from {before} to {run.project}"

    _each(uri, run_ids, move)


@click.command("rename")
@click.argument("run_id")
@click.argument("name")
@uri_option
@reports_errors
def rename(run_id: str, name: str, uri: str | None) -> None:
    """Give a run a new display name."""

    def change(run: ApiRun) -> str:
        before = run.name
        run.rename(name)
        return f"renamed {run.id}: {before} -> {run.name}"

    _each(uri, (run_id,), change)


@click.command("tag")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--add", "-a", multiple=True, help="A tag to add (repeat for more).")
@click.option("--remove", "-r", multiple=True, help="A tag to remove (repeat for more).")
@uri_option
@reports_errors
def tag(
    run_ids: tuple[str, ...], add: tuple[str, ...], remove: tuple[str, ...], uri: str | None
) -> None:
    """Add or remove tags of runs."""
    if not add and not remove:
        raise click.UsageError("name a tag with --add or --remove")

    def change(run: ApiRun) -> str:
        run.update(add_tags=add, remove_tags=remove)
        return f"{run.id}: tags {', '.join(run.tags) or '(none)'}"

    _each(uri, run_ids, change)


@click.command("edit")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--notes", default=None, help="New notes ('' clears them).")
@click.option("--group", default=None, help="New group ('' clears it).")
@click.option("--job-type", default=None, help="New job type ('' clears it).")
@uri_option
@reports_errors
def edit(
    run_ids: tuple[str, ...],
    notes: str | None,
    group: str | None,
    job_type: str | None,
    uri: str | None,
) -> None:
    """Change the notes, group or job type of runs."""
    if notes is None and group is None and job_type is None:
        raise click.UsageError("name a field to change: --notes, --group or --job-type")

    def change(run: ApiRun) -> str:
        run.update(notes=notes, group=group, job_type=job_type)
        return f"{run.id}: group {run.group or '-'}, job type {run.job_type or '-'}"

    _each(uri, run_ids, change)


COMMANDS = (rm, restore, mv, rename, tag, edit)
