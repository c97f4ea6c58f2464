"""Alert rules checked against a monitor's stored series, and their webhook.

Each check reads the series a rule names from the store and judges the newest window
with a value. A rule that begins to hold opens an incident (``store.alerts.open``), one
that stops holding resolves it; the store lets one of two schedulers win each change,
and only the winner delivers the event. Delivery is a JSON POST, retried with backoff
on connection errors, 429 and 5xx; its outcome is kept on the incident.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from assay.errors import AssayError
from assay.monitoring.alerts import Verdict, judge
from assay.records import Alert, AlertDraft

if TYPE_CHECKING:
    from assay.monitoring.spec import MonitorSpec
    from assay.records import Run
    from assay.store import Store

log = logging.getLogger("assay.monitoring")
ATTEMPTS = 4
BACKOFF = 0.5  # seconds before the second attempt, doubling after
TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class Change:
    event: str  # "fired" or "resolved"
    alert: Alert


def check_rules(
    store: Store, run: Run, spec: MonitorSpec, logged: Sequence[int] = ()
) -> list[Change]:
    """Open or resolve the incidents of the monitor's rules, judged at each window this
    pass ``logged`` in order (so a pass that catches up misses no incident), then at the
    newest window with a value; deliver what changed."""
    rules = spec.rules
    if not rules:
        return []
    history = store.runs.history(run.id, sorted({r.series for r in rules}))
    changes = []
    for rule in rules:
        series = history.get(rule.series)
        values = {} if series is None else _by_step(series)
        newest = judge(rule, values, spec.window)
        steps = sorted({*logged, *([newest.step] if newest is not None else [])})
        for step in steps:
            holds = rule.holds(values, step, spec.window)
            verdict = Verdict(rule=rule, step=step, holds=holds, value=values.get(step))
            change = _apply(store, run, spec, verdict)
            if change is not None:
                changes.append(change)
                if spec.webhook:
                    deliver(store, spec.webhook, change, run, spec)
    return changes


def _by_step(series: Any) -> dict[int, float]:
    return dict(zip(series.steps.tolist(), series.values.tolist(), strict=True))


def _apply(store: Store, run: Run, spec: MonitorSpec, verdict: Verdict) -> Change | None:
    rule = verdict.rule
    if verdict.holds is None:
        return None
    if verdict.holds:
        start, end = spec.bounds(verdict.step)
        detail = {
            "model": spec.model,
            "series": rule.series,
            "op": rule.op,
            "threshold": rule.threshold,
            "for_seconds": rule.duration,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
        }
        draft = AlertDraft(
            monitor_id=run.id, rule=rule.text, step=verdict.step, value=verdict.value, detail=detail
        )
        opened = store.alerts.open(draft)
        return None if opened is None else Change(event="fired", alert=opened)
    resolved = store.alerts.resolve(run.id, rule.text, verdict.step, verdict.value)
    return None if resolved is None else Change(event="resolved", alert=resolved)


def body_of(change: Change, run: Run, spec: MonitorSpec) -> dict[str, Any]:
    """The webhook's JSON body (docs/monitoring.md, "The webhook")."""
    a = change.alert
    step = a.resolved_step if change.event == "resolved" else a.opened_step
    value = a.resolved_value if change.event == "resolved" else a.value
    start, end = spec.bounds(step if step is not None else a.opened_step)
    verb = "FIRING" if change.event == "fired" else "resolved"
    return {
        "event": change.event,
        "text": f"[{verb}] {spec.model}: {a.rule} (value {_short(value)}, window ending "
        f"{end.isoformat()})",
        "alert": {
            "id": a.id,
            "rule": a.rule,
            "series": a.detail.get("series"),
            "value": value,
            "step": step,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "opened_at": a.opened_at,
            "resolved_at": a.resolved_at,
        },
        "monitor": {
            "id": run.id,
            "name": run.name,
            "project": run.project,
            "model": spec.model,
            "selector": spec.selector,
            "window_seconds": spec.window,
        },
    }


def deliver(
    store: Store,
    url: str,
    change: Change,
    run: Run,
    spec: MonitorSpec,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST the event to ``url`` (retried), and keep the outcome on the incident."""
    body = body_of(change, run, spec)
    outcome = post(url, body, sleep)
    try:
        store.alerts.delivered(change.alert.id, change.event, outcome)
    except AssayError as exc:  # the event went out; losing its record must not stop the others
        log.warning("could not record the delivery of alert %s: %s", change.alert.id, exc)
    return outcome


def post(
    url: str, body: dict[str, Any], sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """{ok, attempts, status, error, at}: up to ATTEMPTS tries, backing off between them."""
    status: int | None = None
    error: str | None = None
    attempt = 0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = httpx.post(
                url, json=body, timeout=TIMEOUT, headers={"user-agent": "assay-alerts"}
            )
            status, error = response.status_code, None
            if response.is_success:
                return {
                    "ok": True,
                    "attempts": attempt,
                    "status": status,
                    "error": None,
                    "at": time.time(),
                }
            error = f"HTTP {status}"
            if status != 429 and status < 500:
                break  # the receiver refuses this body: trying again would not help
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        if attempt < ATTEMPTS:
            sleep(BACKOFF * 2 ** (attempt - 1))
    log.warning("webhook %s did not take the alert: %s", url, error)
    return {"ok": False, "attempts": attempt, "status": status, "error": error, "at": time.time()}


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
