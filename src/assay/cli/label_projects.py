"""``assay labels create|ls|show|import|export``: label projects in a store (cli/labels.py
adds them to the ``labels`` group)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assay.cli.main import reports_errors, uri_option, wide_console


def _project_id(store: Any, ref: str) -> str:
    """A label project id, or PROJECT/NAME."""
    if "/" in ref:
        project, name = ref.split("/", 1)
        return str(store.labels.find(project, name).id)
    return str(store.labels.get(ref).id)


@click.command("create")
@click.argument("project")
@click.argument("name")
@click.option("--data", type=click.Path(path_type=Path), help="CSV, JSONL or Parquet of items.")
@click.option("--dataset", help="A dataset artifact version (name:v3 or name:alias).")
@click.option(
    "--kind",
    type=click.Choice(["single", "multi", "rating", "text", "pairwise"]),
    default="single",
    show_default=True,
)
@click.option("--choices", default="", help="Comma-separated choices (single, multi).")
@click.option("--scale", default="1-5", show_default=True, help="Rating scale low-high.")
@click.option("--instructions", default="", help="Shown to annotators above each item.")
@click.option("--id-column")
@click.option("--text-column")
@click.option("--image-column")
@click.option("--input-column")
@click.option("--output-column")
@click.option("--pair-columns", help="Two output columns to compare, comma-separated.")
@click.option("--gold-column", help="Known answers: the rows holding one are gold items.")
@click.option("--group-column", help="The kind of item annotator quality is estimated for.")
@click.option("--overlap", type=int, default=3, show_default=True, help="Labels per item (most).")
@click.option("--routing", type=click.Choice(["fixed", "adaptive"]), default="fixed")
@click.option("--min-labels", type=int, default=1, show_default=True)
@click.option("--confidence", type=float, default=0.95, show_default=True)
@click.option("--gold-rate", type=float, default=0.0, show_default=True)
@click.option(
    "--budget",
    type=float,
    default=None,
    help="Adaptive routing: spend at most this share of overlap x items labels.",
)
@uri_option
@reports_errors
def create_command(project: str, name: str, **options: Any) -> None:
    """Create a label project from a table file or a dataset artifact version."""
    from assay.sdk.labels import create

    low, _, high = options.pop("scale").partition("-")
    choices = [c.strip() for c in options.pop("choices").split(",") if c.strip()]
    schema = {
        "kind": options.pop("kind"),
        "choices": choices,
        "low": int(low),
        "high": int(high or low),
        "ties": False,
        "instructions": options.pop("instructions"),
    }
    pair = options.pop("pair_columns")
    columns = {k: v for k, v in options.items() if k.endswith("_column") and v}
    if pair:
        first, _, second = pair.partition(",")
        columns["pair_columns"] = (first.strip(), second.strip())
    settings = {k: v for k, v in options.items() if not k.endswith("_column")}
    made = create(project, name, schema, **settings, **columns)
    click.echo(
        f"label project {made.project}/{made.name} ({made.id}): "
        f"{made.n_items} items, {made.n_gold} gold"
    )


@click.command("ls")
@click.option("--project", default=None)
@uri_option
@reports_errors
def ls_command(project: str | None, uri: str | None) -> None:
    """List label projects, newest first."""
    from rich.table import Table

    from assay.store.base import open_store

    store = open_store(uri)
    try:
        table = Table("id", "project", "name", "kind", "items", "gold", "overlap", "routing")
        for p in store.labels.list(project):
            table.add_row(
                p.id,
                p.project,
                p.name,
                p.schema.kind,
                str(p.n_items),
                str(p.n_gold),
                str(p.overlap),
                p.routing,
            )
        wide_console().print(table)
    finally:
        store.close()


@click.command("show")
@click.argument("ref")
@uri_option
@reports_errors
def show_command(ref: str, uri: str | None) -> None:
    """Progress, agreement, annotator quality and disagreements of a label project."""
    from assay.sdk.labels import report
    from assay.store.base import open_store

    store = open_store(uri)
    try:
        shown = report(_project_id(store, ref), store=store)
    finally:
        store.close()
    console = wide_console()
    p, done = shown.project, shown.progress
    console.print(
        f"{p.project}/{p.name} ({p.id}): {p.schema.kind}, overlap {p.overlap}, {p.routing} routing"
    )
    console.print(
        f"progress: {done.complete:,} of {done.items:,} items complete; {done.labels:,} labels, "
        f"{done.claimed} open claims, {done.skipped} skips, {done.annotators} annotators"
    )
    if shown.alpha is not None:
        console.print(
            f"agreement: Krippendorff's alpha {shown.alpha:.3f}, Fleiss' kappa {shown.kappa:.3f}"
        )
    for row in shown.annotators:
        gold = row.get("gold_accuracy")
        extra = f", gold {gold:.2f}" if gold is not None and gold == gold else ""
        kinds = "".join(f", {k} {q:.2f}" for k, q in sorted(row.get("by_kind", {}).items()))
        console.print(
            f"  {row['worker']}: {int(row['labels'])} labels, quality {row['accuracy']:.2f}"
            f"{extra}{kinds}"
        )
    if shown.disagreements:
        console.print("disagreements to review:")
        for row in shown.disagreements:
            console.print(
                f"  {row['item']}: {row['votes']} -> {row['label']} ({row['confidence']:.2f})"
            )


@click.command("import")
@click.argument("ref")
@click.argument("labels_file", type=click.Path(path_type=Path))
@click.option("--item-column", default="item", show_default=True)
@click.option("--worker-column", default="worker", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@uri_option
@reports_errors
def import_command(  # noqa: PLR0917 - click passes the options positionally by name
    ref: str,
    labels_file: Path,
    item_column: str,
    worker_column: str,
    label_column: str,
    uri: str | None,
) -> None:
    """Import labels collected elsewhere (CSV or a Label Studio JSON export) into a project."""
    from assay.labeling.data import require_columns
    from assay.labeling.io import read_labels
    from assay.records import AnnotationDraft
    from assay.store.base import open_store

    frame = read_labels(labels_file)
    if labels_file.suffix.lower() == ".json":
        item_column, worker_column, label_column = "item", "worker", "label"
    require_columns(frame, [item_column, worker_column, label_column], "labels")
    drafts = [
        AnnotationDraft(
            item_id=str(r[item_column]), annotator=str(r[worker_column]), value=r[label_column]
        )
        for r in frame.to_dict("records")
    ]
    store = open_store(uri)
    try:
        count = store.labels.load(_project_id(store, ref), drafts)
    finally:
        store.close()
    click.echo(f"{count:,} labels imported")


@click.command("export")
@click.argument("ref")
@click.option("--name", default=None, help="Dataset artifact name (default: the project's).")
@click.option("--method", "-m", default="auto", show_default=True)
@uri_option
@reports_errors
def export_command(ref: str, name: str | None, method: str, uri: str | None) -> None:
    """Write the consensus as a new dataset artifact version, with lineage to the project."""
    from assay.sdk.labels import export
    from assay.store.base import open_store

    store = open_store(uri)
    try:
        version = export(_project_id(store, ref), name, method, store=store)
    finally:
        store.close()
    click.echo(
        f"exported {version.ref} ({version.metadata.get('items')} items, "
        f"method {version.metadata.get('method')})"
    )


COMMANDS = (create_command, ls_command, show_command, import_command, export_command)
