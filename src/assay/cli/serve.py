"""``assay serve``: a model server for registered models (docs/serving.md)."""

from __future__ import annotations

import click

from assay.cli.main import reports_errors, uri_option


@click.command("serve")
@click.argument("model_uri")
@click.option("--model", "more", multiple=True, help="Another model URI to serve (repeatable).")
@uri_option
@click.option("--project", default=None, help="Project of artifact references without one.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5252, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option("--max-batch-size", default=64, show_default=True, type=int, help="Rows per call.")
@click.option(
    "--max-latency-ms",
    default=5.0,
    show_default=True,
    type=float,
    help="The time one batched predict call is sized to.",
)
@click.option(
    "--max-queue-ms",
    default=1000.0,
    show_default=True,
    type=float,
    help="A request expected to wait longer in the queue gets 503 with Retry-After.",
)
@click.option("--allow-pickle", is_flag=True, help="Load pickle-flavour models (runs their code).")
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=float,
    help="Seconds between checks for alias moves (0: never).",
)
@click.option(
    "--log-sample",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    metavar="FRACTION",
    help="Fraction of requests written to the store's request log (0: none).",
)
@click.option(
    "--announce-interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.0, 3600.0),
    help="Seconds between announcements of this server to the store, shown on the model "
    "page and by `assay models servers` (0: never announce).",
)
@click.option(
    "--no-traffic",
    is_flag=True,
    help="Ignore the models' traffic policies: answer every request with MODEL_URI.",
)
@reports_errors
def serve_command(
    model_uri: str,
    more: tuple[str, ...],
    uri: str | None,
    project: str | None,
    host: str,
    *,
    port: int,
    workers: int,
    max_batch_size: int,
    max_latency_ms: float,
    max_queue_ms: float,
    allow_pickle: bool,
    poll_interval: float,
    no_traffic: bool,
    log_sample: float,
    announce_interval: float,
) -> None:
    """Serve MODEL_URI (models:/name@alias, models:/name/3 or an artifact reference) over
    the Open Inference Protocol (/v2/...) and MLflow's /invocations, with adaptive
    batching, Prometheus /metrics, and alias moves and traffic policies (`assay models
    traffic`) followed live."""
    from rich.console import Console

    from assay.errors import InvalidInput
    from assay.serving.announce import public_url
    from assay.serving.config import ServeConfig
    from assay.serving.runner import prepare, run

    if workers < 1:
        raise InvalidInput("--workers must be at least 1")
    config = ServeConfig(
        models=(model_uri, *more),
        uri=uri,
        project=project,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        max_queue_ms=max_queue_ms,
        allow_pickle=allow_pickle,
        poll_interval=poll_interval,
        traffic=not no_traffic,
        log_sample=log_sample,
        url=public_url(host, port),
        announce_interval=announce_interval,
    )
    console = Console(stderr=True)
    for line in prepare(config):
        console.print(f"serving {line}", markup=False)
    console.print(f"Assay model server on http://{host}:{port} ({workers} worker(s))")
    run(config, host, port, workers)


@click.command("servers")
@click.argument("name", required=False)
@click.option("--all", "everything", is_flag=True, help="Also servers no longer heard from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@uri_option
@reports_errors
def servers_command(name: str | None, everything: bool, as_json: bool, uri: str | None) -> None:
    """Where models are served from: every running `assay serve` worker (serving NAME, if
    given) with its URL, pid and the version each arm answers with, as it announced
    itself to the store."""
    import json

    import msgspec
    from rich.table import Table

    from assay.cli.main import wide_console
    from assay.sdk.api import Api
    from assay.text import when

    with Api(uri) as api:
        found = [s for s in api.model_servers(name) if everything or s.live]
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(found), indent=2, sort_keys=True))
        return
    console = wide_console()
    if not found:
        console.print(f"no running server{' serves ' + name if name else ''}", highlight=False)
        return
    table = Table("url", "pid", "serves", "started", "last heard", "state")
    for s in found:
        shown = "; ".join(
            f"{m.uri} ({', '.join(f'{a} v{v}' for a, v in m.arms.items())})"
            for m in s.models
            if name is None or m.name == name
        )
        state = "live" if s.live else "gone"
        table.add_row(s.url, str(s.pid), shown, when(s.started_at), when(s.heartbeat_at), state)
    console.print(table)
