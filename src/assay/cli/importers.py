"""``assay export`` and ``assay import``: a project out to open files, and back in."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from assay.cli.main import reports_errors, uri_option
from assay.importers import Counts, export_project, import_export
from assay.store.base import open_store


@click.command("export")
@click.argument("project")
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(path_type=Path),
    help="A new (or empty) folder to write.",
)
@uri_option
@reports_errors
def export_command(project: str, dest: Path, uri: str | None) -> None:
    """Write everything of PROJECT (runs, every metric point, logs, rich values,
    artifacts and prompts, models, evaluations, traces and feedback, sweeps, label
    projects, request logs, traffic, alerts, audit records) as JSON Lines, Parquet and
    files (docs/migrate.md)."""
    store = open_store(uri)
    try:
        counts = export_project(store, project, dest)
    finally:
        store.close()
    _print(f"exported {project} to {dest}", counts)


@click.group("import")
def import_group() -> None:
    """Bring data from elsewhere into Assay (docs/migrate.md)."""


@import_group.command("assay")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--project", default=None, help="Import into this project (default: as exported).")
@uri_option
@reports_errors
def import_assay(folder: Path, project: str | None, uri: str | None) -> None:
    """Read an `assay export` FOLDER into the store; run again to finish an interrupted
    import (nothing is written twice). Exit 1 listing anything that did not come in."""
    store = open_store(uri)
    try:
        counts = import_export(store, folder, project=project)
    finally:
        store.close()
    _print(f"imported {folder}, checked point by point", counts)


@import_group.command("tensorboard")
@click.argument("logdir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--project", default=None, help="Import into this project (default: LOGDIR's name).")
@uri_option
@reports_errors
def import_tensorboard_command(logdir: Path, project: str | None, uri: str | None) -> None:
    """Every scalar point, histogram, image and text of every run under LOGDIR (a run
    per folder of event files); run again to finish an interrupted import. Exit 1
    listing any run not imported."""
    from assay.importers.tensorboard import import_tensorboard

    store = open_store(uri)
    try:
        done = import_tensorboard(store, logdir, project=project)
    finally:
        store.close()
    console = Console(soft_wrap=True)
    console.print(
        f"imported {logdir}: {done.runs} runs, {done.points} points, "
        f"{done.media} media values, checked"
    )
    for plugin, count in sorted(done.skipped.items()):
        console.print(f"not imported: {count} {plugin} values")


@import_group.command("wandb")
@click.argument("path", required=False, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--from-api",
    "api_path",
    default=None,
    metavar="[ENTITY/]PROJECT[/RUN_ID]",
    help="Read from a W&B server through its public API, with the key and host W&B's "
    "client uses (WANDB_API_KEY and WANDB_BASE_URL, or `wandb login`).",
)
@click.option("--project", default=None, help="Import into this project (default: W&B's).")
@uri_option
@reports_errors
def import_wandb_command(
    path: Path | None, api_path: str | None, project: str | None, uri: str | None
) -> None:
    """Every W&B run file under PATH (wandb/offline-run-*/run-*.wandb), or every run of
    a W&B project on a server (--from-api): config, summary, every history point,
    images, tables, audio, histograms, html and video, and console output, system
    metrics and logged artifacts (run files) or the run's files (server). Exit 1 listing
    any run not imported; run again to finish (nothing is written twice)."""
    from assay.importers.wandb import import_wandb, not_imported
    from assay.importers.wandb_api import import_wandb_api

    if (path is None) == (api_path is None):
        raise click.UsageError("give either PATH (run files) or --from-api [ENTITY/]PROJECT")
    store = open_store(uri)
    try:
        if api_path is not None:
            done = import_wandb_api(store, api_path, project=project)
        else:
            assert path is not None
            done = import_wandb(store, path, project=project)
    finally:
        store.close()
    source = api_path or path
    files = f", {done.files} files" if api_path is not None or done.files else ""
    if done.artifact_versions:
        files = f", {done.artifact_versions} artifact versions{files}"
    console = Console(soft_wrap=True)
    if done.media:
        files += f", {done.media} media values"
    console.print(f"imported {source}: {done.runs} runs, {done.points} points{files}, checked")
    for line in not_imported(done.skipped):
        console.print(line)


@import_group.command("mlflow")
@click.option(
    "--from",
    "source",
    required=True,
    help="An MLflow tracking URI (http://, sqlite:///, postgresql://) or an mlruns folder.",
)
@click.option("--project", default=None, help="Import every run into this project.")
@uri_option
@reports_errors
def import_mlflow_command(source: str, project: str | None, uri: str | None) -> None:
    """Experiments, runs (every metric point), artifacts and registered models from
    MLflow; exit 1 listing anything not imported; run again to finish."""
    from assay.importers.mlflow import import_mlflow

    store = open_store(uri)
    try:
        done = import_mlflow(store, source, project=project)
    finally:
        store.close()
    console = Console(soft_wrap=True)
    console.print(
        f"imported {source}: {done.experiments} experiments, {done.runs} runs, "
        f"{done.points} points, {done.artifact_files} artifact files, "
        f"{done.model_versions} model versions, checked"
    )
    for skipped in done.skipped:
        console.print(f"not imported: {skipped}")


def _print(title: str, counts: Counts) -> None:
    shown = ", ".join(
        f"{n} {kind.replace('_', ' ')}" for kind, n in _items(counts) if n or kind == "runs"
    )
    Console(soft_wrap=True).print(f"{title}: {shown}")


def _items(counts: Counts) -> list[tuple[str, int]]:
    import msgspec

    return list(msgspec.structs.asdict(counts).items())
