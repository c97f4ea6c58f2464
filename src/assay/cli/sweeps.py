"""``assay sweep create|agent|ls|show``: hyperparameter sweeps (docs/sweeps.md)."""

from __future__ import annotations

import json
import logging

import click
from rich.table import Table

from assay.cli.main import reports_errors, uri_option, wide_console
from assay.errors import InvalidInput
from assay.sdk.sweeps import Agent, create_sweep, spec_of
from assay.store.base import open_store, resolve_uri
from assay.sweeping.ranking import best_trials
from assay.text import fmt, when


@click.group("sweep")
def sweep() -> None:
    """Hyperparameter sweeps: grid, random and TPE, run by agents."""


@sweep.command("create")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--project", "-p", default=None, help="Project (default: the file's, else default).")
@click.option("--name", default=None, help="Sweep name (default: the file's, else generated).")
@uri_option
@reports_errors
def create(spec_file: str, project: str | None, name: str | None, uri: str | None) -> None:
    """Check a sweep file and store the sweep; prints its id for `assay sweep agent`."""
    store = open_store(uri)
    try:
        made = create_sweep(store, spec_file, project=project, name=name)
    finally:
        store.close()
    size = "no end" if made.max_trials is None else f"{made.max_trials} trials"
    click.echo(f"created sweep {made.id} ({made.project}/{made.name}, {made.method}, {size})")
    click.echo(f"run trials with: assay sweep agent {made.id} -- python train.py")


@sweep.command("agent")
@click.argument("sweep_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.option("--count", "-n", type=int, default=None, help="Trials to run (default: until done).")
@click.option(
    "--poll", type=float, default=1.0, show_default=True, help="Seconds between pruning checks."
)
@uri_option
@reports_errors
def agent(
    sweep_id: str, command: tuple[str, ...], count: int | None, poll: float, uri: str | None
) -> None:
    """Claim and run trials of a sweep, each as COMMAND (after --), e.g.
    `assay sweep agent ID -- python train.py`. Start several, on one machine or many:
    no two run the same trial."""
    if poll <= 0:
        raise InvalidInput(f"--poll {poll} must be positive")
    logging.getLogger("assay").setLevel(logging.INFO)
    resolved = resolve_uri(uri)
    store = open_store(resolved)
    try:
        ran = Agent(store, sweep_id, uri=resolved, poll=poll).run(command=command, count=count)
    finally:
        store.close()
    click.echo(f"ran {len(ran)} trial(s) of sweep {sweep_id}")
    for trial in ran:
        click.echo(
            f"  trial {trial.number}: {trial.state} {fmt(trial.value)} {json.dumps(trial.params)}"
        )


@sweep.command("ls")
@click.option("--project", "-p", default="default", show_default=True)
@uri_option
@reports_errors
def ls(project: str, uri: str | None) -> None:
    """The project's sweeps."""
    store = open_store(uri)
    try:
        found = store.sweeps.list(project)
        table = Table("id", "name", "method", "trials", "created", header_style="bold")
        for s in found:
            count = len(store.sweeps.trials(s.id))
            cap = "" if s.max_trials is None else f"/{s.max_trials}"
            table.add_row(s.id, s.name, s.method, f"{count}{cap}", when(s.created_at))
    finally:
        store.close()
    wide_console().print(table)


@sweep.command("show")
@click.argument("sweep_id")
@click.option("--top", "-n", default=10, show_default=True, help="Best trials to list.")
@uri_option
@reports_errors
def show(sweep_id: str, top: int, uri: str | None) -> None:
    """A sweep's best trials."""
    store = open_store(uri)
    try:
        found = store.sweeps.get(sweep_id)
        trials = store.sweeps.trials(sweep_id)
    finally:
        store.close()
    spec = spec_of(found)
    states = {
        s: sum(t.state == s for t in trials) for s in ("running", "complete", "pruned", "failed")
    }
    console = wide_console()
    title = f"[bold]{found.project}/{found.name}[/]  {found.id}"
    console.print(f"{title}  {found.method}, {spec.goal} {spec.metric}")
    console.print(", ".join(f"{n} {s}" for s, n in states.items()))
    names = [p.name for p in spec.parameters]
    table = Table("trial", "run", spec.metric, *names, title="best trials", header_style="bold")
    for t in best_trials(spec, trials)[:top]:
        table.add_row(str(t.number), t.run_id, fmt(t.value), *(fmt(t.params.get(n)) for n in names))
    console.print(table)
