"""``assay artifacts ls|show|download|alias``, ``assay models ls|show|register|alias|traffic``
and ``assay gc``."""

from __future__ import annotations

import json
from typing import Any

import click
import msgspec
from rich.table import Table

from assay.cli.main import reports_errors, uri_option, wide_console
from assay.cli.runs import check_project
from assay.cli.serve import servers_command
from assay.cli.traffic import traffic_command
from assay.sdk.api import Api
from assay.text import fmt_bytes, when

project_option = click.option("--project", "-p", default="default", show_default=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _print_json(value: Any) -> None:
    click.echo(json.dumps(msgspec.to_builtins(value), indent=2, sort_keys=True))


@click.group()
def artifacts() -> None:
    """List, inspect, download and alias artifact versions."""


@artifacts.command("ls")
@project_option
@click.option("--type", "-t", "kind", default=None, help="Only artifacts of this type.")
@click.argument("name", required=False)
@json_option
@uri_option
@reports_errors
def artifacts_ls(
    project: str, kind: str | None, name: str | None, as_json: bool, uri: str | None
) -> None:
    """A project's artifacts, or with NAME, that artifact's versions."""
    with Api(uri) as api:
        if name is None:
            found: Any = api.artifacts(project, kind)
            if not found:
                check_project(api, project)
            table = Table("name", "type", "versions", "aliases", "updated")
            for a in found:
                aliases = ", ".join(f"{k}→v{v}" for k, v in sorted(a.aliases.items()))
                table.add_row(a.name, a.type, str(a.versions), aliases, when(a.updated_at))
        else:
            found = api.artifact_versions(project, name)
            table = Table("version", "aliases", "size", "files", "run", "created", "by")
            for v in found:
                table.add_row(
                    f"v{v.version}",
                    ", ".join(v.aliases),
                    fmt_bytes(v.size),
                    str(v.file_count),
                    v.run_id or "",
                    when(v.created_at),
                    v.created_by,
                )
    if as_json:
        _print_json(found)
    else:
        wide_console().print(table)


@artifacts.command("show")
@click.argument("ref")
@project_option
@json_option
@uri_option
@reports_errors
def artifacts_show(ref: str, project: str, as_json: bool, uri: str | None) -> None:
    """One version (REF: name:v3, name:alias, project/name:latest, models:/name@alias):
    its record, files and lineage."""
    with Api(uri) as api:
        used = api.artifact(ref, project)
        manifest = used.manifest()
        graph = api.lineage(used.version.ref, direction="both", depth=1)
    v = used.version
    if as_json:
        _print_json({"version": v, "files": manifest.files})
        return
    console = wide_console()
    console.print(f"[bold]{v.ref}[/] ({v.type})  aliases: {', '.join(v.aliases) or '-'}")
    console.print(f"digest {v.digest}  {fmt_bytes(v.size)} in {v.file_count} files")
    console.print(
        f"created {when(v.created_at)} by {v.created_by}; produced by run {v.run_id or '-'}"
    )
    if v.metadata:
        console.print(f"metadata {json.dumps(v.metadata, sort_keys=True)}")
    used_by = [e.target[4:] for e in graph.edges if e.kind == "used"]
    if used_by:
        console.print(f"used by runs {', '.join(used_by)}")
    table = Table("path", "size", "stored as")
    for f in manifest.files:
        how = f.ref or (f"{len(f.chunks)} chunks" if f.chunks else "1 blob")
        table.add_row(f.path, fmt_bytes(f.size), how)
    console.print(table)


@artifacts.command("download")
@click.argument("ref")
@click.option(
    "--root",
    "-o",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to put the files (default: the cache).",
)
@project_option
@uri_option
@reports_errors
def artifacts_download(ref: str, root: str | None, project: str, uri: str | None) -> None:
    """Download a version's files, each checked against its digest; prints the folder."""
    with Api(uri) as api:
        where = api.artifact(ref, project).download(root)
    click.echo(str(where))


@artifacts.command("alias")
@click.argument("ref")
@click.argument("alias")
@click.option("--remove", is_flag=True, help="Remove the alias instead of moving it.")
@project_option
@uri_option
@reports_errors
def artifacts_alias(ref: str, alias: str, remove: bool, project: str, uri: str | None) -> None:
    """Point ALIAS at the version REF names (e.g. `assay artifacts alias data:v3 gold`)."""
    with Api(uri) as api:
        version = api.artifact(ref, project).version
        api.store.artifacts.set_alias(
            version.project, version.name, alias, None if remove else version.version
        )
    verb = "removed from" if remove else "now points at"
    click.echo(f"{alias} {verb} {version.ref}")


# ---- models ----------------------------------------------------------------------------------


@click.group()
def models() -> None:
    """The model registry: registered models, versions, aliases and traffic policies."""


models.add_command(traffic_command)
models.add_command(servers_command)


@models.command("ls")
@click.option("--project", "-p", default=None, help="Only models of this project.")
@json_option
@uri_option
@reports_errors
def models_ls(project: str | None, as_json: bool, uri: str | None) -> None:
    """Registered models."""
    with Api(uri) as api:
        found = api.models(project)
    if as_json:
        _print_json(found)
        return
    table = Table("name", "project", "latest", "aliases", "updated")
    for m in found:
        aliases = ", ".join(f"@{k}→{v}" for k, v in sorted(m.aliases.items()))
        table.add_row(m.name, m.project, str(m.latest), aliases, when(m.updated_at))
    wide_console().print(table)


@models.command("show")
@click.argument("name")
@json_option
@uri_option
@reports_errors
def models_show(name: str, as_json: bool, uri: str | None) -> None:
    """A model's versions and the history of its aliases."""
    with Api(uri) as api:
        model = api.store.models.get(name)
        versions = api.store.models.versions(name)
        history = api.store.models.alias_history(name)
    if as_json:
        _print_json({"model": model, "versions": versions, "alias_history": history})
        return
    console = wide_console()
    console.print(f"[bold]{model.name}[/] (project {model.project}) {model.description or ''}")
    table = Table("version", "aliases", "artifact", "run", "registered", "by")
    for v in versions:
        table.add_row(
            str(v.version),
            ", ".join(f"@{a}" for a in v.aliases),
            v.artifact.ref,
            v.artifact.run_id or "",
            when(v.created_at),
            v.created_by,
        )
    console.print(table)
    moves = Table("when", "alias", "from", "to", "who", "reason", "evidence", title="alias history")
    for h in history:
        moves.add_row(
            when(h.at),
            f"@{h.alias}",
            "-" if h.previous is None else str(h.previous),
            "removed" if h.version is None else str(h.version),
            h.actor,
            h.reason or "",
            h.evidence or "",
        )
    console.print(moves)


@models.command("register")
@click.argument("ref")
@click.argument("name")
@click.option("--description", "-d", default=None)
@project_option
@uri_option
@reports_errors
def models_register(
    ref: str, name: str, description: str | None, project: str, uri: str | None
) -> None:
    """Register the model artifact version REF as the next version of NAME."""
    with Api(uri) as api:
        version = api.artifact(ref, project).version
        mv = api.store.models.register(version.id, name, description)
    state = "registered" if mv.created else "was already registered"
    click.echo(f"{version.ref} {state} as {name} version {mv.version}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int, required=False)
@click.option("--reason", "-r", default=None, help="Why (kept in the alias history).")
@click.option("--evidence", "-e", default=None, help="An evaluation id or link backing the move.")
@click.option("--remove", is_flag=True, help="Remove the alias.")
@uri_option
@reports_errors
def models_alias(
    name: str,
    alias: str,
    version: int | None,
    reason: str | None,
    evidence: str | None,
    *,
    remove: bool,
    uri: str | None,
) -> None:
    """Point @ALIAS of model NAME at VERSION (or --remove it)."""
    if (version is None) != remove:
        raise click.UsageError("give a VERSION to move the alias to, or --remove")
    with Api(uri) as api:
        move = api.store.models.set_alias(name, alias, version, reason=reason, evidence=evidence)
    if move.version is None:
        click.echo(f"@{alias} removed from {name} (was version {move.previous})")
    else:
        was = "" if move.previous is None else f" (was {move.previous})"
        click.echo(f"{name}@{alias} → version {move.version}{was}")


# ---- gc --------------------------------------------------------------------------------------


@click.command("gc")
@click.option("--delete", is_flag=True, help="Really delete (the default is a dry run).")
@click.option(
    "--grace", default=3600.0, show_default=True, help="Seconds a blob is safe after it was stored."
)
@click.option(
    "--runs-after",
    default=30.0,
    show_default=True,
    help="Days a deleted run stays restorable; older deleted runs are purged.",
)
@click.option("--blobs", default=None, help="Blob location of a database URI (folder or s3://...).")
@uri_option
@reports_errors
def gc_command(
    delete: bool, grace: float, runs_after: float, blobs: str | None, uri: str | None
) -> None:
    """Purge runs deleted more than --runs-after days ago, then remove blobs that no
    artifact version or run holds. A dry run unless --delete; safe while others write
    (blobs stored within --grace seconds are kept)."""
    from assay.cli.main import secrets_hidden
    from assay.errors import InvalidInput
    from assay.store.base import open_sql_store

    if grace < 0:
        raise InvalidInput(f"--grace {grace} must not be negative")
    if runs_after < 0:
        raise InvalidInput(f"--runs-after {runs_after} must not be negative")
    with secrets_hidden():
        store = open_sql_store(uri, blobs=blobs)
    try:
        purged = store.runs.purge(older_than=runs_after * 86400, dry_run=not delete)
        report = store.blobs.collect_garbage(grace=grace, dry_run=not delete)
    finally:
        store.close()
    runs_verb = "would purge" if purged.dry_run else "purged"
    click.echo(f"{runs_verb} {len(purged.runs)} deleted runs")
    if purged.artifact_versions or purged.kept_versions:
        click.echo(
            f"  with {purged.artifact_versions} artifact versions they produced "
            f"({purged.kept_versions} kept: still used elsewhere)"
        )
    verb = "would remove" if report.dry_run else "removed"
    click.echo(f"{verb} {report.blobs} blobs ({fmt_bytes(report.bytes)}); {report.kept} kept")
    if report.dry_run and report.blobs:
        click.echo("run again with --delete to remove them")
