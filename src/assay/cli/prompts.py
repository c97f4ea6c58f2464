"""``assay prompts create|ls|show|label|split|compare``: prompts as versioned artifacts,
their labels and A/B splits, and how the arms of a split compare (docs/llm.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import msgspec
import yaml
from rich.table import Table

from assay.cli.evaluate import EXIT
from assay.cli.main import reports_errors, uri_option, wide_console
from assay.cli.traffic import shares_of
from assay.errors import InvalidInput
from assay.prompting.compare import ABReport
from assay.records import PromptLabel
from assay.sdk import prompts
from assay.text import fmt, when

project_option = click.option(
    "--project", "-p", default=None, help="Project (default: ASSAY_PROJECT, else default)."
)


@click.group("prompts")
def prompts_group() -> None:
    """Prompts: versions, labels (production, staging, ...) and A/B splits."""


def split_text(split: dict[str, float]) -> str:
    """``v7 90%, v8 10%``, or ``v7`` for a plain label."""
    if len(split) == 1:
        return f"v{next(iter(split))}"
    return ", ".join(f"v{v} {w:g}%" for v, w in split.items())


def _template_of(path: Path) -> tuple[Any, dict[str, Any]]:
    """A template file: ``.json``/``.yaml`` hold a list of messages (chat) or
    ``{template, params}``; any other file is a text template."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        return text, {}
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    if isinstance(data, dict) and "template" in data:
        params = data.get("params") or {}
        return data["template"], params if isinstance(params, dict) else {"params": params}
    return data, {}


def _params(given: tuple[str, ...]) -> dict[str, Any]:
    """``temperature=0.2`` pairs, each value read as YAML (numbers, booleans, text)."""
    found: dict[str, Any] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param {item!r}: write NAME=VALUE, say temperature=0.2")
        found[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return found


@prompts_group.command("create")
@click.argument("name")
@click.option("--file", "-f", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text", "-t", default=None, help="The template itself (a text template).")
@click.option("--param", multiple=True, help="NAME=VALUE model parameter (repeatable).")
@click.option("--label", "-l", "labels", multiple=True, help="Point this label at the version.")
@click.option("--description", "-d", default=None)
@click.option("--reason", "-r", default=None, help="Why the labels move (kept and audited).")
@project_option
@uri_option
@reports_errors
def create(
    name: str,
    *,
    file: Path | None,
    text: str | None,
    param: tuple[str, ...],
    labels: tuple[str, ...],
    description: str | None,
    reason: str | None,
    project: str | None,
    uri: str | None,
) -> None:
    """A new version of prompt NAME from --file (text, or JSON/YAML chat messages) or
    --text; the same content gives the existing version."""
    if (file is None) == (text is None):
        raise click.UsageError("give the template with --file or --text (one of them)")
    template, params = _template_of(file) if file is not None else (str(text), {})
    made = prompts.create(
        name,
        template,
        params={**params, **_params(param)},
        project=project,
        description=description,
        labels=list(labels),
        reason=reason,
        uri=uri,
    )
    shown = f" ({', '.join(made.variables)})" if made.variables else ""
    click.echo(f"{made.ref}: {made.type} template{shown}")
    for label in labels:
        click.echo(f"  {label} -> v{made.version}")


@prompts_group.command("ls")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@uri_option
@reports_errors
def ls(project: str | None, as_json: bool, uri: str | None) -> None:
    """The project's prompts, their latest version and labels."""
    found = prompts.ls(project, uri=uri)
    if as_json:
        out = [
            {
                "name": info.name,
                "versions": info.versions,
                "latest": info.latest,
                "labels": {x.label: x.split for x in info.labels},
            }
            for info in found
        ]
        click.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    table = Table("prompt", "versions", "labels", "updated", header_style="bold")
    for info in found:
        shown = "; ".join(f"{x.label}: {split_text(x.split)}" for x in info.labels)
        table.add_row(info.name, str(info.versions), shown, when(info.updated_at))
    wide_console().print(table)


def _print_history(moves: list[PromptLabel]) -> None:
    table = Table("when", "label", "now", "before", "who", "reason", "evidence", title="history")
    for m in moves:
        table.add_row(
            when(m.at),
            m.label,
            split_text(m.split) if m.split else "removed",
            split_text(m.previous) if m.previous else "",
            m.actor,
            m.reason or "",
            m.evidence or "",
        )
    wide_console().print(table)


@prompts_group.command("show")
@click.argument("ref")
@click.option("--history", is_flag=True, help="Also show every move of the labels.")
@project_option
@uri_option
@reports_errors
def show(ref: str, history: bool, project: str | None, uri: str | None) -> None:
    """A prompt's versions and labels, and the template REF names (name, name@label,
    name:v3; a split shows its largest arm)."""
    chosen = prompts.get(ref, project=project, ttl=0, key="", uri=uri)
    versions = prompts.versions(chosen.name, project=chosen.project, uri=uri)
    labels = prompts.labels(chosen.name, project=chosen.project, uri=uri)
    console = wide_console()
    console.print(f"[bold]{chosen.project}/{chosen.name}[/]", highlight=False)
    table = Table("version", "type", "variables", "params", "labels", header_style="bold")
    for v in versions:
        on = [x.label for x in labels if str(v.version) in x.split]
        params = json.dumps(v.params, sort_keys=True) if v.params else ""
        table.add_row(f"v{v.version}", v.type, ", ".join(v.variables), params, ", ".join(on))
    console.print(table)
    for x in labels:
        why = f": {x.reason}" if x.reason else ""
        console.print(f"  {x.label} -> {split_text(x.split)} ({when(x.at)}, {x.actor}{why})")
    console.print(f"\n[bold]v{chosen.version}[/]", highlight=False)
    if isinstance(chosen.template, str):
        click.echo(chosen.template)
    else:
        for message in chosen.template:
            click.echo(f"[{message['role']}] {message['content']}")
    if history:
        _print_history(prompts.history(chosen.name, project=chosen.project, uri=uri))


@prompts_group.command("label")
@click.argument("ref")
@click.argument("label")
@click.argument("version", required=False)
@click.option("--remove", is_flag=True, help="Remove the label.")
@click.option("--reason", "-r", default=None, help="Why (kept in the history, audited).")
@click.option("--evidence", "-e", default=None, help="An evaluation id, a comparison, a link.")
@project_option
@uri_option
@reports_errors
def label(
    ref: str,
    label: str,
    version: str | None,
    *,
    remove: bool,
    reason: str | None,
    evidence: str | None,
    project: str | None,
    uri: str | None,
) -> None:
    """Point LABEL of prompt REF at VERSION (v3), or --remove it."""
    if remove == (version is not None):
        raise click.UsageError("give a VERSION, or --remove")
    number = None if version is None else _version(version)
    move = prompts.label(
        ref, label, number, reason=reason, evidence=evidence, project=project, uri=uri
    )
    before = split_text(move.previous) if move.previous else "nothing"
    after = split_text(move.split) if move.split else "removed"
    click.echo(f"{move.project}/{move.prompt}@{label}: {before} -> {after}")


def _version(text: str) -> int:
    try:
        return int(text.strip().lstrip("v"))
    except ValueError:
        raise InvalidInput(f"version {text!r} must be a version number, as v3") from None


@prompts_group.command("split")
@click.argument("ref")
@click.argument("label")
@click.argument("weights", nargs=-1, required=True)
@click.option("--reason", "-r", default=None, help="Why (kept in the history, audited).")
@click.option("--evidence", "-e", default=None, help="An evaluation id, a comparison, a link.")
@project_option
@uri_option
@reports_errors
def split(
    ref: str,
    label: str,
    weights: tuple[str, ...],
    *,
    reason: str | None,
    evidence: str | None,
    project: str | None,
    uri: str | None,
) -> None:
    """Point LABEL at a weighted split: `assay prompts split support production v7=90
    v8=10`. Apps reading the label follow within their cache's TTL."""
    shares = shares_of("weight", weights)
    move = prompts.split(
        ref, label, shares, reason=reason, evidence=evidence, project=project, uri=uri
    )
    click.echo(f"{move.project}/{move.prompt}@{label}: {split_text(move.split)}")


def _print_report(report: ABReport) -> None:
    console = wide_console()
    percent = f"{report.level * 100:g}%"
    arms = Table("version", "share", "traces", "metric", "mean", f"{percent} CI", title="arms")
    for arm in report.arms:
        share = "" if arm.share is None else f"{arm.share:g}%"
        first = True
        for metric, e in arm.metrics.items():
            head = (f"v{arm.version}", share, str(arm.traces)) if first else ("", "", "")
            arms.add_row(*head, metric, fmt(e.value), f"{fmt(e.low)} to {fmt(e.high)}")
            first = False
        if first:
            arms.add_row(f"v{arm.version}", share, "0", "", "", "")
    console.print(arms)
    table = Table(
        "arm",
        "metric",
        "difference",
        f"{percent} CI",
        "p",
        "tolerance",
        "decision",
        title=f"against v{report.baseline} (Welch's t, Holm across metrics)",
    )
    for c in report.comparisons:
        table.add_row(
            f"v{c.candidate}",
            c.metric,
            fmt(c.diff),
            f"{fmt(c.low)} to {fmt(c.high)}",
            fmt(c.p_value, 3),
            fmt(c.tolerance),
            c.decision,
        )
    console.print(table)
    colour = {"pass": "green", "fail": "red"}.get(report.verdict.status, "yellow")
    console.print(f"[bold {colour}]{report.verdict.status.upper()}[/]: {report.verdict.reason}")


@prompts_group.command("compare")
@click.argument("ref")
@click.option("--versions", default=None, help="Versions to compare, as 7,8 (default: the split).")
@click.option("--since", type=float, default=None, help="Only traces of the last HOURS.")
@click.option("--limit", type=int, default=2000, show_default=True, help="Newest traces read.")
@click.option("--tolerance", multiple=True, help="METRIC=AMOUNT: the change allowed (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@project_option
@uri_option
@reports_errors
def compare(
    ref: str,
    *,
    versions: str | None,
    since: float | None,
    limit: int,
    tolerance: tuple[str, ...],
    as_json: bool,
    project: str | None,
    uri: str | None,
) -> None:
    """How the arms of REF's split (name@label) compare on the traces that recorded each
    version: feedback and judge scores, cost, latency, errors. Exits 1 when the verdict
    is fail, 2 when inconclusive, as `assay eval` does."""
    import time

    wanted = [_version(v) for v in versions.split(",")] if versions else None
    report = prompts.compare(
        ref,
        versions=wanted,
        since=None if since is None else time.time() - since * 3600,
        limit=limit,
        tolerances=shares_of("tolerance", tolerance),
        project=project,
        uri=uri,
    )
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(report.to_dict()), indent=2, sort_keys=True))
    else:
        _print_report(report)
    sys.exit(EXIT[report.verdict.status])
