"""Entry point: a click group whose subcommands load on first use (fast ``--help``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any, TypeVar

import click

from assay._version import __version__
from assay.errors import AssayError
from assay.extras import missing
from assay.redact import redact_text

# name -> "module:attribute" of a click command or group; later areas add theirs here.
COMMANDS = {
    "runs": "assay.cli.runs:runs",
    "projects": "assay.cli.runs:projects",
    "sync": "assay.cli.sync:sync_command",
    "demo": "assay.cli.demo:demo_command",
    "server": "assay.cli.server:server_command",
    "ui": "assay.cli.ui:ui_command",
    "login": "assay.cli.server:login_command",
    "db": "assay.cli.server:db",
    "users": "assay.cli.admin:users",
    "keys": "assay.cli.admin:keys",
    "audit": "assay.cli.audit:audit",
    "artifacts": "assay.cli.artifacts:artifacts",
    "models": "assay.cli.artifacts:models",
    "gc": "assay.cli.artifacts:gc_command",
    "eval": "assay.cli.evaluate:eval_group",
    "monitor": "assay.cli.monitor:monitor",
    "labels": "assay.cli.labels:labels",
    "serve": "assay.cli.serve:serve_command",
    "plugins": "assay.cli.plugins:plugins_command",
    "export": "assay.cli.importers:export_command",
    "import": "assay.cli.importers:import_group",
    "sweep": "assay.cli.sweeps:sweep",
    "prompts": "assay.cli.prompts:prompts_group",
    "traces": "assay.cli.traces:traces",
}

F = TypeVar("F", bound=Callable[..., Any])


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@contextmanager
def secrets_hidden() -> Iterator[None]:
    """An Assay error raised inside, with any URI password or token in its message hidden
    (a store's errors quote its URL, and the message is printed)."""
    try:
        yield
    except AssayError as exc:
        message = redact_text(str(exc))
        if message == str(exc):
            raise
        try:
            hidden = type(exc)(message)
        except TypeError:  # an error whose constructor takes more than a message
            hidden = AssayError(message)
        raise hidden from None


def reports_errors(func: F) -> F:
    """Turn Assay errors into a clean message and exit code 1 (no traceback); a URI's
    password or a token quoted in the message is hidden."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AssayError as exc:
            raise click.ClickException(redact_text(str(exc))) from exc
        except ModuleNotFoundError as exc:
            words = click.get_current_context().command_path.split()[1:]
            explained = missing(exc, "'" + " ".join(["assay", *words]) + "'")
            if explained is None:
                raise
            raise click.ClickException(str(explained)) from exc

    return wrapper  # type: ignore[return-value]


def wide_console(stderr: bool = False) -> Any:
    """A rich Console, wide enough for tables when the output is not a terminal."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=max(console.width, 200))


uri_option = click.option(
    "--uri", envvar="ASSAY_URI", default=None, help="Store URI (default: ASSAY_URI or ~/.assay)."
)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="assay")
def cli() -> None:
    """Assay: track experiments, version data and models, evaluate, serve, govern."""
    from assay.sdk import progress

    progress.install()  # transfers and evaluations show rich bars on a terminal


def main() -> None:
    cli()
