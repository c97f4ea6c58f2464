"""``assay eval run|power|ls|show``: evaluation suites for CI, and stored evaluations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from assay.cli.main import reports_errors, uri_option, wide_console
from assay.errors import AssayError
from assay.text import fmt, when

EXIT = {"pass": 0, "fail": 1, "inconclusive": 2}
EXIT_ERROR = 3
STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}


def _ci(row: dict[str, Any], low: str = "low", high: str = "high") -> str:
    return f"{fmt(row.get(low))} to {fmt(row.get(high))}"


def _percent(level: float) -> str:
    return f"{level * 100:.4g}%"


def _holm_ci(row: dict[str, Any], level: float) -> str:
    """The Holm-adjusted interval a gated check was decided on, when its level differs."""
    held = row.get("gate_level")
    if held is None or abs(held - row.get("level", level)) < 1e-12:
        return ""
    return f"{_percent(held)}: {_ci(row, 'gate_low', 'gate_high')}"


def render(report: dict[str, Any]) -> list[Any]:
    """Rich renderables for a report (as ``Report.to_dict`` writes it). Text from the report
    (names, slices, reasons) is escaped: ``[group=1]`` is not rich markup."""
    from assay.evaluation.report import p_text

    config = report.get("config") or {}
    level = float(config.get("level") or 0.95)
    ci = f"{_percent(level)} CI"
    metrics = Table(title=escape(f"{report['model']} on {report['dataset']}"), title_justify="left")
    for column in ("metric", "slice", "value", ci, "SE", "items", "method"):
        metrics.add_column(
            column, justify="right" if column in ("value", "SE", "items") else "left"
        )
    for m in report["metrics"]:
        metrics.add_row(
            *_escaped(m["metric"], m["slice"] or "all"),
            fmt(m["value"]),
            _ci(m),
            fmt(m["se"], 3),
            str(m["n"]),
            m["method"],
        )
    out: list[Any] = [metrics]
    if report.get("compare"):
        out.append(_compare_table(report, level, p_text))
    errors = report.get("errors") or {}
    if errors.get("count"):
        first = errors["examples"][0]
        out.append(
            f"[red]{errors['count']} calls raised[/] "
            + escape(f"(item {first['item_id']}: {first['error']})")
        )
    verdict = report["verdict"]
    out.append(
        f"[bold {STYLE[verdict['status']]}]{verdict['status'].upper()}[/]: "
        + escape(verdict["reason"])
    )
    return out


def _compare_table(report: dict[str, Any], level: float, p_text: Any) -> Table:
    shared = report.get("shared") or {}
    draws = (report.get("config") or {}).get("bootstrap")
    title = f"vs {report.get('baseline')} on {shared.get('items')} shared items"
    extra = [
        f"{shared[k]} only in the {k.split('_')[0]}"
        for k in ("candidate_only", "baseline_only")
        if shared.get(k)
    ]
    compare = Table(
        title=escape(title + (f" ({', '.join(extra)})" if extra else "")), title_justify="left"
    )
    holm = [_holm_ci(c, level) for c in report["compare"]]
    columns = ["metric", "slice", "candidate", "baseline", "diff", f"{_percent(level)} CI"]
    columns += ["Holm-adjusted CI"] if any(holm) else []
    for column in (*columns, "p", "test", "tolerance", "decision"):
        compare.add_column(column)
    for c, adjusted in zip(report["compare"], holm, strict=True):
        decision = c["decision"]
        if decision == "inconclusive" and c.get("more_items"):
            decision += f" (~{c['more_items']} more items)"
        compare.add_row(
            *_escaped(c["metric"], c["slice"] or "all"),
            fmt(c["candidate"]),
            fmt(c["baseline"]),
            fmt(c["diff"]),
            _ci(c),
            *([adjusted] if any(holm) else []),
            p_text(c["p_value"], c["test"], draws),
            c["test"],
            fmt(c["tolerance"]),
            f"[{STYLE.get(c['decision'], 'dim')}]{decision}[/]",
        )
    return compare


def _escaped(*texts: str) -> list[str]:
    return [escape(str(t)) for t in texts]


@click.group("eval")
def eval_group() -> None:
    """Run evaluation suites (CI gates), size evaluations, read stored evaluations."""


@eval_group.command("run")
@click.argument("suite_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "model",
    default=None,
    help="The candidate: models:/name@alias, an artifact or python:pkg.mod:fn (default: suite's).",
)
@click.option(
    "--baseline",
    default=None,
    help="Compare with this instead of the suite's baseline (or eval:<id>).",
)
@click.option("--project", default=None, help="Store the evaluation in this project.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report as JSON here ('-' for stdout).",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a JUnit XML file for CI.",
)
@click.option("--workers", type=int, default=None, help="Parallel model calls.")
@click.option("--no-cache", is_flag=True, help="Call the model on every item, even if cached.")
@click.option("--ray", "use_ray", is_flag=True, help="Run the model calls on a Ray cluster.")
@uri_option
def eval_run(
    suite_file: Path,
    model: str | None,
    baseline: str | None,
    project: str | None,
    json_path: Path | None,
    *,
    junit_path: Path | None,
    workers: int | None,
    no_cache: bool,
    use_ray: bool,
    uri: str | None,
) -> None:
    """Evaluate a model as SUITE_FILE says; exit 0 pass, 1 fail, 2 inconclusive, 3 error."""
    try:
        report = _run_suite(
            path=suite_file,
            model=model,
            baseline=baseline,
            project=project,
            workers=workers,
            no_cache=no_cache,
            use_ray=use_ray,
            uri=uri,
        )
    except (AssayError, ValueError, ImportError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    data = report.to_dict() | {"id": report.id, "project": report.project}
    console = wide_console(stderr=json_path == Path("-"))  # keep stdout for the JSON
    for part in render(data):
        console.print(part)
    if report.id:
        console.print(f"Stored as evaluation {report.id} in project {report.project}.")
    if json_path is not None:
        text = json.dumps(data, indent=2, default=str)
        if json_path == Path("-"):
            click.echo(text)
        else:
            json_path.write_text(text + "\n")
    if junit_path is not None:
        from assay.evaluation.suite import junit

        junit_path.write_bytes(junit(data))
    sys.exit(EXIT[report.verdict.status])


def _run_suite(
    path: Path,
    model: str | None,
    baseline: str | None,
    project: str | None,
    workers: int | None,
    *,
    no_cache: bool,
    use_ray: bool,
    uri: str | None,
) -> Any:
    from assay.evaluation import suite as suites
    from assay.sdk.evaluation import evaluate

    suite = suites.load(path)
    candidate = suites.model_of(model or suite.model, path.parent)
    if candidate is None:
        raise AssayError(f"no model to evaluate: give --model or set 'model' in {path}")
    options = dict(suite.options)
    if project is not None:
        options["project"] = project
    if workers is not None:
        options["workers"] = workers
    if no_cache:
        options["cache"] = False
    return evaluate(
        candidate,
        suite.data,
        suite.scorers,
        baseline=suites.model_of(baseline or suite.baseline, path.parent),
        name=suite.name,
        ray=use_ray,
        uri=uri,
        **options,
    )


@eval_group.command("power")
@click.option(
    "--baseline-rate",
    type=float,
    default=None,
    help="The baseline's pass rate (pass/fail metrics).",
)
@click.option("--delta", type=float, required=True, help="The drop to detect, in metric units.")
@click.option(
    "--paired-sd",
    type=float,
    default=None,
    help="SD of per-item differences (a past evaluation's comparison shows it).",
)
@click.option(
    "--tolerance", type=float, default=0.0, show_default=True, help="The gate's tolerance."
)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option("--power", "power", type=float, default=0.8, show_default=True)
@reports_errors
def eval_power(
    baseline_rate: float | None,
    delta: float,
    paired_sd: float | None,
    tolerance: float,
    alpha: float,
    *,
    power: float,
) -> None:
    """Items a paired comparison needs to catch a drop of DELTA with the given power."""
    from assay.evaluation.stats import items_for_power

    try:
        found = items_for_power(
            baseline_rate=baseline_rate,
            delta=delta,
            paired_sd=paired_sd,
            tolerance=tolerance,
            alpha=alpha,
            power=power,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        f"{found.items} items detect a drop of {delta:g} beyond a tolerance of {tolerance:g} "
        f"with power {power:g} at alpha {alpha:g} (per-item difference sd {found.sd:.4g}; "
        f"assumed: {found.assumed})"
    )


@eval_group.command("ls")
@click.option("--project", "-p", default=None, help="Only this project's evaluations.")
@click.option("--limit", default=50, show_default=True)
@uri_option
@reports_errors
def eval_ls(project: str | None, limit: int, uri: str | None) -> None:
    """Stored evaluations, newest first."""
    from assay.sdk.api import Api

    with Api(uri) as api:
        found = api.store.evaluations.list(project, limit=limit)
    table = Table()
    for column in (
        "id",
        "project",
        "name",
        "model",
        "dataset",
        "items",
        "errors",
        "verdict",
        "when",
    ):
        table.add_column(column)
    for e in found:
        table.add_row(
            e.id,
            e.project,
            e.name,
            e.model,
            e.dataset,
            str(e.n_items),
            str(e.n_errors),
            e.verdict or "-",
            when(e.created_at),
        )
    wide_console().print(table)


@eval_group.command("show")
@click.argument("evaluation_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@uri_option
@reports_errors
def eval_show(evaluation_id: str, as_json: bool, uri: str | None) -> None:
    """One stored evaluation's report."""
    from assay.sdk.api import Api

    with Api(uri) as api:
        found = api.store.evaluations.get(evaluation_id)
    data = {**found.report, "id": found.id, "project": found.project}
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    console = wide_console()
    for part in render(data):
        console.print(part)
