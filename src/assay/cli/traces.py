"""``assay traces dataset``: a dataset artifact made from filtered traces
(docs/traces.md)."""

from __future__ import annotations

import click

from assay.cli.main import reports_errors, uri_option
from assay.sdk.api import Api


@click.group("traces")
def traces() -> None:
    """Traces of LLM applications."""


@traces.command("dataset")
@click.option("--project", "-p", required=True, help="The traces' project.")
@click.option("--filter", "-f", "filter_", default=None, help="Trace filter (docs/traces.md).")
@click.option("--name", required=True, help="Name of the dataset artifact.")
@click.option(
    "--limit", default=1000, show_default=True, help="At most this many traces, newest first."
)
@click.option("--to-project", default=None, help="Project of the dataset (default: the traces').")
@click.option("--alias", "aliases", multiple=True, help="Alias for the version (repeatable).")
@uri_option
@reports_errors
def dataset(  # noqa: PLR0917 - click passes one argument per option
    project: str,
    filter_: str | None,
    name: str,
    limit: int,
    to_project: str | None,
    aliases: tuple[str, ...],
    uri: str | None,
) -> None:
    """Make a dataset version of the traces the filter selects: their inputs, outputs and
    feedback, one row each, ready for `assay eval`."""
    with Api(uri) as api:
        chosen = api.traces(project, filter_, limit)
        version = chosen.to_dataset(name, project=to_project, aliases=aliases)
    click.echo(f"{version.ref} from {len(chosen)} traces")
