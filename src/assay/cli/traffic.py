"""``assay models traffic NAME``: a registered model's traffic policy (how ``assay serve``
shares its requests between versions), shown, set, cleared, with its history."""

from __future__ import annotations

import json

import click
import msgspec
from rich.table import Table

from assay.cli.main import reports_errors, uri_option, wide_console
from assay.errors import InvalidInput
from assay.records import TrafficPolicy
from assay.sdk.api import Api
from assay.text import when


def shares_of(what: str, given: tuple[str, ...]) -> dict[str, float]:
    """``production=90`` (or ``production:90``, ``production 90%``) pairs as a dict."""
    shares: dict[str, float] = {}
    for item in given:
        arm, sep, value = item.replace(":", "=").partition("=")
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            number = None
        if not sep or not arm or number is None:
            raise InvalidInput(f"{what} {item!r}: write ARM=PERCENT, say production=90")
        shares[arm.strip()] = number
    return shares


def _summary(shares: dict[str, float], versions: dict[str, int]) -> str:
    def version(arm: str) -> str:
        found = versions.get(arm)
        return "" if arm.isdigit() or found is None else f" (v{found})"

    return ", ".join(f"{arm}{version(arm)} {share:g}%" for arm, share in shares.items())


def _print(policy: TrafficPolicy | None, aliases: dict[str, int], name: str) -> None:
    console = wide_console()
    if policy is None:
        console.print(f"{name}: no traffic policy (servers answer with the URI they serve)")
        return
    console.print(f"[bold]{name}[/] split: {_summary(policy.split, aliases)}", highlight=False)
    if policy.sticky:
        console.print(f"  sticky by {policy.sticky}", highlight=False)
    if policy.shadow:
        console.print(f"  shadow: {_summary(policy.shadow, aliases)}", highlight=False)
    why = f": {policy.reason}" if policy.reason else ""
    console.print(f"  set {when(policy.at)} by {policy.actor}{why}", highlight=False)


def _print_history(history: list[TrafficPolicy]) -> None:
    table = Table("when", "split", "sticky", "shadow", "who", "reason", title="traffic history")
    for h in history:
        table.add_row(
            when(h.at),
            _summary(h.split, {}) or "cleared",
            h.sticky or "",
            _summary(h.shadow, {}),
            h.actor,
            h.reason or "",
        )
    wide_console().print(table)


@click.command("traffic")
@click.argument("name")
@click.argument("split", nargs=-1)
@click.option("--sticky", default=None, help="header:<name> or input:<field>: one key, one arm.")
@click.option(
    "--shadow", multiple=True, help="ARM=PERCENT: copy that share of requests to ARM (repeatable)."
)
@click.option("--reason", "-r", default=None, help="Why (kept in the policy's history).")
@click.option("--clear", is_flag=True, help="Remove the policy.")
@click.option("--history", is_flag=True, help="Also show every change of the policy.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@uri_option
@reports_errors
def traffic_command(
    name: str,
    split: tuple[str, ...],
    sticky: str | None,
    shadow: tuple[str, ...],
    reason: str | None,
    *,
    clear: bool,
    history: bool,
    as_json: bool,
    uri: str | None,
) -> None:
    """Show or set how `assay serve` shares NAME's requests between arms (aliases or
    versions): `assay models traffic fraud production=90 candidate=10 --sticky
    header:x-user-id --shadow v7=20 -r "canary"`. Running servers follow within their
    poll interval; every change is kept (--history) and audited."""
    if clear and (split or shadow or sticky):
        raise click.UsageError("--clear takes no arms, --sticky or --shadow")
    if not split and (shadow or sticky):
        raise click.UsageError("give the split (ARM=PERCENT ...) with --sticky or --shadow")
    with Api(uri) as api:
        models = api.store.models
        if clear:
            models.set_traffic(name, None, reason=reason)
        elif split:
            models.set_traffic(
                name,
                shares_of("arm", split),
                sticky=sticky,
                shadow=shares_of("shadow", shadow) or None,
                reason=reason,
            )
        policy = models.traffic(name)
        aliases = models.get(name).aliases
        changes = models.traffic_history(name) if history else []
    if as_json:
        out = {"policy": policy, **({"history": changes} if history else {})}
        click.echo(json.dumps(msgspec.to_builtins(out), indent=2, sort_keys=True))
        return
    _print(policy, aliases, name)
    if history:
        _print_history(changes)
