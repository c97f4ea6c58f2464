"""``assay monitor add|ls|show|rm|run``: monitors of served models (docs/monitoring.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
import msgspec
from rich.markup import escape
from rich.table import Table

from assay.cli.main import reports_errors, uri_option, wide_console
from assay.text import when

if TYPE_CHECKING:
    from assay.store.base import Store


@contextmanager
def _store(uri: str | None) -> Iterator[Store]:
    from assay.store.base import open_store

    store = open_store(uri)
    try:
        yield store
    finally:
        store.close()


@click.command("add")
@click.argument("model")
@click.option(
    "--reference",
    default=None,
    help="Dataset artifact (train:v3), data file or profile artifact to compare with.",
)
@click.option("--window", default="1h", show_default=True, help="Window length: 10m, 1h, 1d.")
@click.option(
    "--alert",
    "alerts",
    multiple=True,
    help="An alert rule, e.g. 'drift', 'error_rate > 0.02 for 10m' (repeatable).",
)
@click.option("--webhook", default=None, help="URL that alert events are POSTed to.")
@click.option("--features", default=None, help="Comma-separated inputs to test for drift.")
@click.option("--prediction", default=None, help="The output compared with labels.")
@click.option(
    "--scorer", type=click.Choice(["accuracy", "mae"]), default="accuracy", show_default=True
)
@click.option(
    "--alpha",
    type=float,
    default=0.01,
    show_default=True,
    help="Family-wise false-alarm rate of each window's drift verdict.",
)
@click.option("--name", default=None, help="The monitor's name (default monitor-MODEL).")
@uri_option
@reports_errors
def add_command(  # noqa: PLR0917 - click passes one argument per option
    model: str,
    reference: str | None,
    window: str,
    alerts: tuple[str, ...],
    webhook: str | None,
    features: str | None,
    prediction: str | None,
    scorer: str,
    alpha: float,
    name: str | None,
    uri: str | None,
) -> None:
    """Watch MODEL (models:/NAME@ALIAS or NAME) in windows of its request log."""
    from assay.sdk import monitors

    wanted = [f.strip() for f in features.split(",") if f.strip()] if features else None
    with _store(uri) as store:
        run = monitors.add(
            store, model, window=window, reference=reference, alerts=list(alerts),
            webhook=webhook, features=wanted, prediction=prediction, scorer=scorer,
            alpha=alpha, name=name,
        )  # fmt: skip
    click.echo(f"monitor {run.id} ({run.name}) in project {run.project}")


@click.command("ls")
@click.option("--model", default=None, help="Only the monitors of this model.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@uri_option
@reports_errors
def ls_command(model: str | None, uri: str | None, *, as_json: bool) -> None:
    """Active monitors."""
    from assay.monitoring.spec import MonitorSpec
    from assay.sdk import monitors

    with _store(uri) as store:
        found = [(r, MonitorSpec.from_config(r.config)) for r in monitors.monitors(store, model)]
    if as_json:
        rows = [{"id": r.id, "name": r.name, "project": r.project, "spec": _spec(s)}
                for r, s in found]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "model", "window", "reference", "alerts", "last window")
    for run, spec in found:
        traffic = run.metrics.get("traffic")
        last = (
            "-"
            if traffic is None
            else f"{traffic.last_step} ({when(traffic_end(spec, traffic.last_step))})"
        )
        model_ref = spec.model + (f"@{spec.selector}" if spec.selector else "")
        table.add_row(run.id, model_ref, _seconds(spec.window), spec.reference or "-",
                      ", ".join(spec.alerts) or "-", last)  # fmt: skip
    wide_console().print(table)


@click.command("show")
@click.argument("monitor_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@uri_option
@reports_errors
def show_command(monitor_id: str, uri: str | None, *, as_json: bool) -> None:
    """A monitor: its definition, latest window and alert incidents, with each event's
    webhook delivery (delivered, pending with the last error and the next attempt, or
    failed)."""
    from assay.sdk import monitors
    from assay.sdk.alerting import deliveries_of

    with _store(uri) as store:
        run, spec = monitors.get(store, monitor_id)
        alerts = store.alerts.list(monitor_id=run.id)
    latest = {
        k: m.last for k, m in run.metrics.items() if "/" not in k and not k.startswith("drift.")
    }
    if as_json:
        body = {"id": run.id, "name": run.name, "project": run.project, "spec": _spec(spec),
                "latest": latest, "alerts": msgspec.to_builtins(alerts)}  # fmt: skip
        click.echo(json.dumps(body, indent=2))
        return
    console = wide_console()
    console.print(f"[bold]{run.name}[/] ({run.id}) in {run.project}: {spec.model}"
                  f"{'@' + spec.selector if spec.selector else ''}, windows of "
                  f"{_seconds(spec.window)}, reference {spec.reference or '-'}")  # fmt: skip
    for key in sorted(latest):
        console.print(f"  {key:<20} {latest[key]:.4g}")
    table = Table("rule", "fired (window)", "resolved (window)", "value", "webhook")
    for a in alerts:
        resolved = "open" if a.resolved_step is None else str(a.resolved_step)
        webhook = "; ".join(f"{e}: {text}" for e, _, text in deliveries_of(a))
        value = "-" if a.value is None else f"{a.value:.4g}"
        table.add_row(a.rule, str(a.opened_step), resolved, value,
                      escape(webhook) if spec.webhook else "-")  # fmt: skip
    console.print(table)


@click.command("rm")
@click.argument("monitor_id")
@uri_option
@reports_errors
def rm_command(monitor_id: str, uri: str | None) -> None:
    """Stop a monitor (its series and alerts are kept)."""
    from assay.sdk import monitors

    with _store(uri) as store:
        monitors.remove(store, monitor_id)
    click.echo(f"monitor {monitor_id} removed")


@click.command("run")
@click.option("--once", is_flag=True, help="One pass over every monitor, then exit (cron, CI).")
@click.option("--interval", default=60.0, show_default=True, help="Seconds between passes.")
@uri_option
@reports_errors
def run_command(uri: str | None, interval: float, *, once: bool) -> None:
    """Log the closed windows of every monitor, join late labels, deliver alerts."""
    from assay.sdk import monitors

    with _store(uri) as store:
        source = monitors.StoreRequests(store)
        while True:
            failed = _report(monitors.run_all(store, source))
            if once:
                if failed:
                    raise SystemExit(1)
                return
            time.sleep(interval)


def _report(passes: list[Any]) -> bool:
    failed = False
    for done in passes:
        if done.error:
            failed = True
            click.echo(f"{done.monitor}: {done.error}", err=True)
            continue
        events = ", ".join(f"{c.event} {c.alert.rule!r}" for c in done.changes)
        click.echo(f"{done.monitor}: {len(done.windows)} windows, {len(done.relabelled)} "
                   f"relabelled{'; ' + events if events else ''}")  # fmt: skip
    return failed


def traffic_end(spec: Any, step: int) -> float:
    return float(spec.bounds(step)[1].timestamp())


def _spec(spec: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec)


def _seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def register(group: click.Group) -> None:
    for command in (add_command, ls_command, show_command, rm_command, run_command):
        group.add_command(command)
