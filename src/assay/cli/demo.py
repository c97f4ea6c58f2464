"""``assay demo``: the main job, a small real training logged to the store."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from assay.cli.main import reports_errors, uri_option
from assay.store.base import resolve_uri


@click.command("demo")
@click.option("--epochs", default=30, show_default=True, help="Epochs per run.")
@click.option(
    "--quick",
    is_flag=True,
    help="Two runs of five epochs, 80 labelled images (for tests and CI).",
)
@click.option("--no-ui", is_flag=True, help="Do not serve the web UI afterwards.")
@click.option("--port", default=5151, show_default=True, type=int, help="Port of the web UI.")
@uri_option
@reports_errors
def demo_command(epochs: int, quick: bool, no_ui: bool, port: int, uri: str | None) -> None:
    """Train SGD classifiers on scikit-learn's digits data and log them to the store;
    evaluate the best and promote it on a pass; aggregate a simulated crowd's labels,
    check drift against a training profile, serve the production model for one request;
    trace a small LLM assistant and A/B test its prompt."""
    from assay.demo.digits import grid, run_demo

    resolved = resolve_uri(uri)
    configs = grid((0.01, 0.1), (1e-4,)) if quick else grid()
    console = Console()
    console.print(f"Training {len(configs)} runs on the digits data into [bold]{resolved}[/]")
    with Progress(console=console) as progress:
        task = progress.add_task("training", total=len(configs))
        result = run_demo(
            resolved,
            configs=configs,
            epochs=5 if quick else epochs,
            on_run=lambda done, _total: progress.update(task, completed=done),
        )
    exe = _assay_command()
    if result.baseline_version is None:
        against = "no earlier production model"
    else:
        against = f"production version {result.baseline_version}"
    moved = "now @production" if result.promoted else "@production stays where it was"
    console.print(
        f"\nBest run: [bold]{result.best_run_id}[/] "
        f"(validation accuracy {result.best_val_acc:.3f}); its model is registered as "
        f"digits-classifier version {result.model_version}.\n"
        f"Evaluated on the held-out test split against {against}: "
        f"[bold]{result.verdict}[/] ({result.reason}); {moved}.\n"
        f"Every run used the dataset {result.dataset}."
    )
    _labels_drift_serving(console, resolved, result.dataset, quick)
    _llm(console, resolved, quick)
    console.print(
        "\nBrowse what was logged:\n"
        f"  {exe} runs ls --project {result.project} --uri {resolved}\n"
        f"  {exe} runs ls --project {result.project} --uri {resolved} "
        '--filter "summary.best_val_acc > 0.9" --sort=-summary.best_val_acc\n'
        f"  {exe} runs show {result.best_run_id} --uri {resolved}\n"
        f"  {exe} artifacts ls --project {result.project} --uri {resolved}\n"
        f"  {exe} models show digits-classifier --uri {resolved}\n"
        f"  {exe} eval show {result.evaluation_id} --uri {resolved}\n"
        f"  {exe} ui --uri {resolved}"
    )
    if not no_ui:
        from assay.cli.ui import serve_local

        serve_local(resolved, port, open_browser=True)


def _labels_drift_serving(console: Console, uri: str, dataset: str, quick: bool) -> None:
    """The rest of the lifecycle: labels, drift, serving. The model server starts first, so
    that it loads while the other two steps run; each step that cannot run here says which
    extra it needs."""
    from contextlib import ExitStack

    from assay.demo.common import missing_extra
    from assay.demo.digits import REGISTERED
    from assay.demo.serve import SERVING_MODULES, ModelServer, production_version, run_serving

    serve_skip = missing_extra("serving", *SERVING_MODULES)
    if serve_skip is None and production_version(REGISTERED, uri) is None:
        serve_skip = f"skipped: no version of {REGISTERED} is @production"
    with ExitStack() as stack:
        server = None
        if serve_skip is None:
            server = stack.enter_context(ModelServer(f"models:/{REGISTERED}@production", uri))

        items = 80 if quick else 150
        _heading(console, "Labels", "consensus from a simulated crowd (assay.labeling)")
        skip = missing_extra("tables", "pandas")
        if skip is None:
            from assay.demo.labels import run_labels

            _lines(console, run_labels(dataset, uri, items=items).lines())
        else:
            _lines(console, [skip])

        _heading(console, "Drift", "a profile and two windows checked (assay.monitoring)")
        skip = missing_extra("monitoring", "pandas", "datasketches")
        if skip is None:
            from assay.demo.drift import run_drift

            _lines(console, run_drift(dataset, uri).lines())
        else:
            _lines(console, [skip])

        _heading(console, "Monitoring", "the served model's traffic, a drifted window, an alert")
        if server is None or skip is not None:
            _lines(console, [skip or serve_skip or ""])
        else:
            from assay.demo.monitor import run_monitor

            _lines(console, run_monitor(server, REGISTERED, dataset, uri=uri).lines())

        _heading(
            console,
            "Serving",
            "the production model over HTTP (assay serve, started before Labels)",
        )
        if server is None:
            _lines(console, [serve_skip or ""])
        else:
            _lines(
                console,
                run_serving(server=server, model=REGISTERED, dataset=dataset, uri=uri).lines(),
            )


def _llm(console: Console, uri: str, quick: bool) -> None:
    """An LLM application beside the model: traces, a prompt A/B test, feedback."""
    from assay.demo.llm import run_llm

    _heading(console, "LLM", "a traced assistant, its prompt A/B tested (assay.prompts)")
    _lines(console, run_llm(uri, users=50 if quick else 200).lines())


def _heading(console: Console, title: str, what: str) -> None:
    console.print(f"\n[bold]{title}[/]: {escape(what)}")


def _lines(console: Console, lines: list[str]) -> None:
    for line in lines:
        console.print(line, markup=False, highlight=False)


def _assay_command() -> str:
    """``assay`` when it is on PATH, else the full path of this environment's one."""
    beside = Path(sys.executable).parent / "assay"
    if shutil.which("assay") == str(beside) or not beside.exists():
        return "assay"
    return str(beside)
