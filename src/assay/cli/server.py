"""``assay server``, ``assay login`` and ``assay db``."""

from __future__ import annotations

import click
from rich.console import Console

from assay.cli.main import reports_errors, secrets_hidden, uri_option
from assay.errors import InvalidInput
from assay.redact import redact_uri
from assay.server.config import ServerConfig, check_bind
from assay.store.base import open_sql_store, resolve_uri, scheme_of, store_kind
from assay.store.sql.schema import SCHEMA_REVISION


@click.command("server")
@uri_option
@click.option("--blobs", default=None, help="Blob folder or s3://bucket/prefix (AWS_* env for S3).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5151, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option(
    "--local/--auth",
    "local",
    default=None,
    help="--local: one user, no auth, loopback only (default for an embedded store). "
    "--auth: API keys and roles (default for a database URL).",
)
@click.option(
    "--monitor-interval",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds between passes over the monitors (0: none; docs/monitoring.md).",
)
@reports_errors
def server_command(  # noqa: PLR0917 - click passes one argument per option
    uri: str | None,
    blobs: str | None,
    host: str,
    port: int,
    workers: int,
    monitor_interval: float,
    *,
    local: bool | None,
) -> None:
    """Serve a store over HTTP: the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json)."""
    import os

    import uvicorn

    resolved = resolve_uri(uri)
    if store_kind(resolved) == "http":
        raise InvalidInput("--uri must be a path, sqlite:// or postgresql:// URL, not a server")
    if local is None:
        local = scheme_of(resolved) == "file"
    check_bind(host, local)
    if workers < 1:
        raise InvalidInput("--workers must be at least 1")
    if workers > 1 and not scheme_of(resolved).startswith("postgresql"):
        Console(stderr=True).print(
            "note: several workers on one SQLite file serialise their writes"
        )
    if monitor_interval < 0:
        raise InvalidInput("--monitor-interval must be 0 (none) or more seconds")
    config = ServerConfig(resolved, blobs, local, monitor_interval=monitor_interval)
    _prepare(config)
    os.environ.update(config.to_env())
    mode = "local (no auth)" if local else "auth (API keys)"
    shown = redact_uri(resolved)
    Console(stderr=True).print(f"Assay server on http://{host}:{port} for {shown}, {mode}")
    uvicorn.run(
        "assay.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


def _prepare(config: ServerConfig) -> None:
    """Open the store once before the workers do: schema checks fail here, clearly."""
    from assay.server.app import open_state

    with secrets_hidden():
        state = open_state(config)
    try:
        if not config.local and not state.auth.users():
            Console(stderr=True).print(
                "no users yet: create an admin with `assay users add NAME --admin --uri ...` "
                "and a key with `assay keys create NAME --uri ...`"
            )
    finally:
        state.close()


@click.command("login")
@click.argument("url")
@click.option("--key", default=None, help="The API key (asked for when not given).")
@reports_errors
def login_command(url: str, key: str | None) -> None:
    """Check an API key against a server and save it for that server (mode 0600)."""
    from assay.store.http import credentials
    from assay.store.http.store import RemoteStore

    key = key or click.prompt("API key", hide_input=True)
    store = RemoteStore(url, api_key=key)
    try:
        who = store.whoami()
    finally:
        store.close()
    path = credentials.save(url, key)
    click.echo(f"logged in to {url} as {who['user']}; key saved in {path}")


@click.group("db")
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@uri_option
@reports_errors
def db_upgrade(uri: str | None) -> None:
    """Bring the store's schema to this Assay's version (safe to run twice)."""
    with secrets_hidden():
        store = open_sql_store(uri, upgrade=True)
    store.close()
    click.echo(f"{redact_uri(store.uri)}: schema is at revision {SCHEMA_REVISION}")
