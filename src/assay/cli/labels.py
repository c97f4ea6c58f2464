"""``assay labels consensus|stats|rank``: consensus labels, agreement, preference rankings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from assay.cli.main import reports_errors, wide_console

METHOD_CHOICES = ["auto", "mv", "ds", "one-coin", "glad", "mace"]


@click.group("labels")
def labels() -> None:
    """Crowd labels: consensus, annotator quality, agreement, pairwise rankings."""


def _input_options(func: Any) -> Any:
    options = [
        click.option("--item-column", default="item", show_default=True),
        click.option("--worker-column", default="worker", show_default=True),
        click.option("--label-column", default="label", show_default=True),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "label-studio"]),
            default=None,
            help="Input format (default: label-studio for .json files, else csv).",
        ),
        click.option("--from-name", default=None, help="Label Studio: the question to read."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(
    path: Path, fmt: str | None, from_name: str | None, *, item: str, worker: str, label: str
) -> Any:
    """The labels table, and the column names to read it with (a Label Studio export is
    read into item, worker and label whatever the options say)."""
    from assay.labeling.io import detect_format, read_labels

    frame = read_labels(path, fmt, from_name)
    if detect_format(path, fmt) == "label-studio":
        item, worker, label = "item", "worker", "label"
    return frame, {"item_column": item, "worker_column": worker, "label_column": label}


@labels.command("consensus")
@click.argument("labels_file", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="CSV to write.")
@click.option(
    "--method", "-m", type=click.Choice(METHOD_CHOICES), default="auto", show_default=True
)
@click.option("--gold", type=click.Path(path_type=Path), default=None, help="CSV of item,label.")
@click.option(
    "--workers",
    "workers_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write per-worker quality to this CSV.",
)
@_input_options
@reports_errors
def consensus_command(
    labels_file: Path,
    out: Path,
    method: str,
    gold: Path | None,
    workers_out: Path | None,
    *,
    item_column: str,
    worker_column: str,
    label_column: str,
    fmt: str | None,
    from_name: str | None,
) -> None:
    """Write one consensus label per item (item,label,confidence) and print a summary."""
    from assay.labeling.aggregation import aggregate
    from assay.labeling.io import read_csv
    from assay.labeling.stats import agreement

    frame, columns = _load(
        labels_file, fmt, from_name, item=item_column, worker=worker_column, label=label_column
    )
    gold_frame = read_csv(gold) if gold is not None else None
    result = aggregate(frame, method, gold_frame, **columns)
    result.labels.to_csv(out, index=False, float_format="%.6f")
    if workers_out is not None:
        result.workers.to_csv(workers_out, index=False, float_format="%.6f")
    stats = _agreement_or_none(agreement, frame, columns)
    _summary(result, stats, out)


def _agreement_or_none(agreement: Any, frame: Any, columns: dict[str, str]) -> Any:
    from assay.errors import InvalidInput

    try:
        return agreement(frame, **columns)
    except InvalidInput:
        return None  # no item with two labels: agreement is undefined


def _summary(result: Any, stats: Any, out: Path) -> None:
    console = wide_console()
    labels = result.labels
    low = int((labels["confidence"] < 0.9).sum())
    console.print(
        f"{len(labels):,} items, {len(result.workers):,} workers, "
        f"{len(result.classes)} classes -> {out}"
    )
    chosen = result.method if result.requested != "auto" else f"auto: {result.method}"
    console.print(f"method: {chosen} ({result.reason})")
    if stats is not None:
        console.print(
            f"agreement: Krippendorff's alpha {stats.krippendorff_alpha:.3f}, "
            f"Fleiss' kappa {stats.fleiss_kappa:.3f}, "
            f"pairs agreeing {stats.percent_agreement:.1%}"
        )
    console.print(f"confidence below 0.9: {low:,} items")
    if result.gold_accuracy is not None:
        known = int(result.workers["gold_labels"].gt(0).sum())
        console.print(
            f"accuracy on gold (5-fold, each fold hidden in turn): {result.gold_accuracy:.4f}; "
            f"{known} workers labelled gold items"
        )
    for note in result.warnings:
        console.print(f"[yellow]note:[/yellow] {note}")


@labels.command("stats")
@click.argument("labels_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@_input_options
@reports_errors
def stats_command(
    labels_file: Path,
    as_json: bool,
    item_column: str,
    worker_column: str,
    label_column: str,
    *,
    fmt: str | None,
    from_name: str | None,
) -> None:
    """Agreement statistics: Krippendorff's alpha (nominal), Fleiss' kappa, raw agreement."""
    from assay.labeling.stats import agreement

    frame, columns = _load(
        labels_file, fmt, from_name, item=item_column, worker=worker_column, label=label_column
    )
    stats = agreement(frame, **columns)
    if as_json:
        click.echo(json.dumps(stats.as_dict(), indent=2))
        return
    console = wide_console()
    console.print(
        f"{stats.items:,} items with 2+ labels, {stats.workers:,} workers, "
        f"{stats.labels:,} labels, {stats.classes} classes, "
        f"{stats.ratings_per_item:.1f} labels per item"
    )
    console.print(f"Krippendorff's alpha (nominal): {stats.krippendorff_alpha:.4f}")
    equal = "" if stats.equal_raters else " (unequal labels per item: generalised form)"
    console.print(f"Fleiss' kappa: {stats.fleiss_kappa:.4f}{equal}")
    console.print(f"pairs of labels agreeing: {stats.percent_agreement:.1%}")


@labels.command("rank")
@click.argument("pairs_file", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="CSV to write.")
@click.option("--a-column", default="a", show_default=True)
@click.option("--b-column", default="b", show_default=True)
@click.option("--winner-column", default="winner", show_default=True)
@reports_errors
def rank_command(
    pairs_file: Path, out: Path | None, a_column: str, b_column: str, winner_column: str
) -> None:
    """Bradley-Terry ranking of pairwise preferences (a,b,winner), with 95% intervals."""
    from rich.table import Table

    from assay.labeling.io import read_csv
    from assay.labeling.preferences import bradley_terry

    ranking = bradley_terry(read_csv(pairs_file), a_column, b_column, winner_column)
    if out is not None:
        ranking.table.to_csv(out, index=False, float_format="%.6f")
    table = Table(title=f"{len(ranking.table)} items, Bradley-Terry scores (95% interval)")
    for column in ("rank", "item", "score", "interval", "wins", "losses"):
        table.add_column(column, justify="left" if column == "item" else "right")
    for row in ranking.table.itertuples():
        table.add_row(
            str(row.rank),
            str(row.item),
            f"{row.score:.3f}",
            f"{row.low:.3f} to {row.high:.3f}",
            f"{row.wins:g}",
            f"{row.losses:g}",
        )
    console = wide_console()
    console.print(table)
    for note in ranking.warnings:
        console.print(f"[yellow]note:[/yellow] {note}")


def _add_project_commands() -> None:
    from assay.cli.label_projects import COMMANDS

    for command in COMMANDS:
        labels.add_command(command)


_add_project_commands()
