"""Administration on the database itself: ``assay users``, ``assay keys``, grants."""

from __future__ import annotations

import datetime as dt

import click
from rich.console import Console
from rich.table import Table

from assay.cli.main import reports_errors, secrets_hidden, uri_option
from assay.store.base import open_sql_store
from assay.store.sql.auth import ROLES, SqlAuth


def _auth(uri: str | None) -> SqlAuth:
    with secrets_hidden():
        return SqlAuth(open_sql_store(uri).engine)


@click.group()
def users() -> None:
    """Users of a team server."""


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Administers the whole server.")
@uri_option
@reports_errors
def users_add(name: str, admin: bool, uri: str | None) -> None:
    _auth(uri).add_user(name, is_admin=admin)
    click.echo(f"user {name} added{' (admin)' if admin else ''}")


@users.command("ls")
@uri_option
@reports_errors
def users_ls(uri: str | None) -> None:
    auth = _auth(uri)
    table = Table("user", "admin", "grants", header_style="bold")
    for name, is_admin in auth.users():
        grants = ", ".join(f"{p}:{r}" for p, r in sorted(auth.grants_of(name).items()))
        table.add_row(name, "yes" if is_admin else "", grants)
    Console().print(table)


@click.group()
def keys() -> None:
    """API keys (shown once, stored hashed)."""


@keys.command("create")
@click.argument("user")
@click.option("--label", default=None)
@uri_option
@reports_errors
def keys_create(user: str, label: str | None, uri: str | None) -> None:
    key_id, key = _auth(uri).create_key(user, label)
    click.echo(f"key {key_id} for {user} (shown once; store it now):\n{key}")


@keys.command("revoke")
@click.argument("key_id")
@uri_option
@reports_errors
def keys_revoke(key_id: str, uri: str | None) -> None:
    _auth(uri).revoke_key(key_id)
    click.echo(f"key {key_id} revoked")


@keys.command("ls")
@click.option("--user", default=None)
@uri_option
@reports_errors
def keys_ls(user: str | None, uri: str | None) -> None:
    table = Table("id", "user", "label", "created", "last used", "revoked", header_style="bold")
    for k in _auth(uri).list_keys(user):
        table.add_row(
            k.id,
            k.user,
            k.label or "",
            _when(k.created_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
    Console().print(table)


@click.command("grant")
@click.argument("user")
@click.argument("project")
@click.argument("role", type=click.Choice([*ROLES, "none"]))
@uri_option
@reports_errors
def grant(user: str, project: str, role: str, uri: str | None) -> None:
    """Give USER a ROLE on PROJECT (viewer, writer, admin; none takes it away)."""
    _auth(uri).grant(user, project, None if role == "none" else role)
    click.echo(f"{user} is now {role} on {project}")


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
