"""``assay monitor``: monitors on served models, and one-off drift checks of files.

    assay monitor add models:/NAME@ALIAS --reference DATASET_REF --window 1h [--alert RULE]
    assay monitor ls | show ID | rm ID | run [--once]
    assay monitor drift REF CURRENT [--alpha 0.01] [--json] [--columns a,b]
    assay monitor profile DATA -o DATA.profile

Files: CSV, TSV, Parquet, JSON Lines, or a profile saved by ``assay monitor profile``.
``drift`` exits 1 on drift, 0 otherwise, 2 on bad input (or when no column could be
tested, so a window too small never passes silently). With ``--json`` bad input is a JSON
object too: ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assay.cli.monitors import register
from assay.errors import InvalidInput

EXIT_DRIFT, EXIT_BAD_INPUT = 1, 2
PROFILE_MARK = b'"format":"assay.profile"'
ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"


@click.group("monitor")
def monitor() -> None:
    """Monitors on served models; drift between two files (docs/monitoring.md)."""


register(monitor)  # add, ls, show, rm, run (cli/monitors.py)


@monitor.command("drift")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path))
@click.option("--alpha", type=float, default=0.01, show_default=True,
              help="Family-wise false-alarm rate of the verdict.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--columns", default=None, help="Comma-separated columns to compare.")
def drift_command(
    reference: Path, current: Path, alpha: float, as_json: bool, columns: str | None
) -> None:
    """Compare CURRENT with REFERENCE; exit 1 on drift, 0 if none, 2 on bad input."""
    from assay.monitoring import drift

    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    try:
        report = drift(load(reference), load(current), alpha=alpha, columns=wanted)
    except InvalidInput as exc:
        if as_json:
            click.echo(json.dumps({"error": str(exc)}))
        _bad_input(str(exc))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.summary())
    if report.tested == 0 and not report.drifted:
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_DRIFT if report.drifted else 0)


@monitor.command("profile")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the profile (JSON).")  # fmt: skip
@click.option("--columns", default=None, help="Comma-separated columns to profile.")
def profile_command(data: Path, output: Path, columns: str | None) -> None:
    """Write the profile of DATA (mergeable; usable as REF of ``monitor drift``)."""
    from assay.monitoring import Profile, profile

    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    try:
        loaded = load(data)
        result = loaded if isinstance(loaded, Profile) else profile(loaded, columns=wanted)
        output.write_bytes(result.to_bytes())
    except (InvalidInput, OSError) as exc:
        _bad_input(str(exc))
    click.echo(f"profile of {result.rows:,} rows, {len(result.columns)} columns -> {output}")


def load(path: Path) -> Any:
    """A DataFrame (CSV, TSV, Parquet, JSON Lines) or a Profile, by content and suffix."""
    from assay.monitoring import Profile

    try:
        with path.open("rb") as fh:
            head = fh.read(64)
        if PROFILE_MARK in head:
            return Profile.from_bytes(path.read_bytes())
        return _read_table(path)
    except InvalidInput:
        raise
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # pandas and pyarrow parse errors have no common base
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


def _read_table(path: Path) -> Any:
    frame = _read_frame(path)
    for name in frame.columns:
        if frame[name].dtype == object or str(frame[name].dtype) == "str":
            frame[name] = _maybe_datetime(frame[name])
    return frame


def _maybe_datetime(column: Any) -> Any:
    """Text files carry timestamps as ISO strings; read them back as datetimes."""
    import pandas as pd

    first = column.dropna().head(20).astype(str)
    if first.empty or not first.str.match(ISO_DATE).all():
        return column
    try:
        return pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError):
        return column


def _read_frame(path: Path) -> Any:
    import pandas as pd

    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson", ".jsonl.gz", ".json"):
        return pd.read_json(path, lines=suffix != ".json")
    if suffix in (".tsv", ".tab"):
        return pd.read_csv(path, sep="\t")
    if suffix in (".csv", ".csv.gz", ".txt"):
        return pd.read_csv(path)
    raise InvalidInput(f"{path}: unknown file type {suffix or '(none)'}; "
                       "use .csv, .tsv, .parquet, .jsonl or a saved profile")  # fmt: skip


def _bad_input(message: str) -> Any:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)
