"""Alert rules checked against a monitor's stored series, and their webhook.

Each check reads the series a rule names from the store and judges the newest window
with a value. A rule that begins to hold opens an incident (``store.alerts.open``), one
that stops holding resolves it; the store lets one of two schedulers win each change, so
an incident fires once.

Delivery is a JSON POST, one attempt per event per pass (``deliver_due``). A failure that
may pass (no connection, a timeout, 408, 429, 5xx) leaves the delivery ``pending`` with
its next attempt RETRY_FIRST seconds later, doubling up to RETRY_MAX, on later passes,
until it is delivered or GIVE_UP seconds have gone by since the first attempt (then
``failed``); a receiver that refuses the body (another 4xx) fails it at once. Each attempt
is claimed from the store first (``store.alerts.claim``), so two schedulers never post
the same attempt; the state and the last error are kept on the incident. A receiver may
still see an event twice when it took a request it did not answer in time: the body's
``alert.id`` and ``event`` identify it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from assay.errors import AssayError
from assay.monitoring.alerts import Verdict, judge
from assay.records import Alert, AlertDraft
from assay.store.facets.alerts import (
    DELIVERED,
    FAILED,
    PENDING,
    SENDING,
    delivery_state,
    events_of,
    is_due,
)

if TYPE_CHECKING:
    from assay.monitoring.spec import MonitorSpec
    from assay.records import Run
    from assay.store import Store

log = logging.getLogger("assay.monitoring")
TIMEOUT = 10.0  # seconds for one POST
LEASE = 60.0  # seconds a sender holds a claimed delivery (more than one POST takes)
RETRY_FIRST = 30.0  # seconds from a failed attempt to the next, doubling after
RETRY_MAX = 3600.0
GIVE_UP = 86400.0  # seconds from the first attempt after which a delivery fails


@dataclass(frozen=True, kw_only=True)
class Change:
    event: str  # "fired" or "resolved"
    alert: Alert


def check_rules(
    store: Store, run: Run, spec: MonitorSpec, logged: Sequence[int] = ()
) -> list[Change]:
    """Open or resolve the incidents of the monitor's rules, judged at each window this
    pass ``logged`` in order (so a pass that catches up misses no incident), then at the
    newest window with a value. Delivery is ``deliver_due``'s."""
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


@dataclass(frozen=True, kw_only=True)
class Delivery:
    event: str
    alert: Alert
    outcome: dict[str, Any]


def deliver_due(
    store: Store, run: Run, spec: MonitorSpec, now: float | None = None
) -> list[Delivery]:
    """Attempt every delivery of the monitor's incidents that is due at ``now`` (a new
    event, or a pending one whose retry time came), oldest incident first, each event
    claimed from the store first. An attempt that fails is recorded, never raised."""
    url = spec.webhook
    if not url:
        return []
    now = time.time() if now is None else now
    done = []
    for alert in store.alerts.undelivered(run.id, now - GIVE_UP - RETRY_MAX):
        for event in events_of(alert):
            if not is_due(alert, event, now):
                continue
            claimed = store.alerts.claim(alert.id, event, now, LEASE)
            if claimed is None:  # another scheduler took it, or it is not due after all
                continue
            outcome = attempt(url, Change(event=event, alert=claimed), run, spec, now)
            try:
                alert = store.alerts.delivered(alert.id, event, outcome)
            except AssayError as exc:  # the lease runs out and a later pass tries again
                log.warning("could not record the delivery of alert %s: %s", alert.id, exc)
            done.append(Delivery(event=event, alert=claimed, outcome=outcome))
    return done


def attempt(url: str, change: Change, run: Run, spec: MonitorSpec, now: float) -> dict[str, Any]:
    """POST the event once; the delivery's next state from how that went."""
    before = change.alert.deliveries.get(change.event) or {}
    attempts = int(before.get("attempts") or 0) + 1
    first_at = float(before.get("first_at") or now)
    result = post(url, body_of(change, run, spec))
    outcome: dict[str, Any] = {
        **result, "attempts": attempts, "at": now, "first_at": first_at,
        "next_at": None, "lease_until": None,
    }  # fmt: skip
    if result["ok"]:
        return {**outcome, "state": DELIVERED}
    if not result["retry"] or now - first_at >= GIVE_UP:
        log.warning("webhook %s did not take the alert, giving up: %s", url, result["error"])
        return {**outcome, "state": FAILED}
    wait = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
    log.warning("webhook %s did not take the alert (%s); next attempt in %.0f s", url,
                result["error"], wait)  # fmt: skip
    return {**outcome, "state": PENDING, "next_at": now + wait}


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One POST: {ok, status, error, retry} (``retry``: whether a later attempt may do
    better: no connection, a timeout, 408, 429 or 5xx)."""
    try:
        response = httpx.post(
            url, json=body, timeout=TIMEOUT, headers={"user-agent": "assay-alerts"}
        )
    except httpx.HTTPError as exc:
        return {"ok": False, "status": None, "error": f"{type(exc).__name__}: {exc}", "retry": True}
    status = response.status_code
    if response.is_success:
        return {"ok": True, "status": status, "error": None, "retry": False}
    retry = status in (408, 429) or status >= 500
    return {"ok": False, "status": status, "error": f"HTTP {status}", "retry": retry}


def deliveries_of(alert: Alert) -> list[tuple[str, str, str]]:
    """(event, state, text) for each event of the incident, in order: what ``assay
    monitor show`` and the monitoring page print ("not sent" when never tried)."""
    return [
        (event, delivery_state(alert.deliveries.get(event)) or "not sent",
         delivery_text(alert.deliveries.get(event)))
        for event in events_of(alert)
    ]  # fmt: skip


def delivery_text(outcome: Mapping[str, Any] | None) -> str:
    """One event's delivery in words, with the last error while it is not delivered."""
    state = delivery_state(outcome)
    if outcome is None or state is None:
        return "not sent"
    attempts = int(outcome.get("attempts") or 0)
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    error = outcome.get("error") or "no answer"
    if state == DELIVERED:
        return "delivered" if attempts <= 1 else f"delivered after {tries}"
    if state == FAILED:
        return f"failed after {tries}: {error}"
    if state == SENDING:
        return "sending" + (f" (after {tries}: {error})" if attempts else "")
    next_at = outcome.get("next_at")
    when = "" if next_at is None else f"; next attempt {_utc(float(next_at))}"
    return f"pending after {tries}: {error}{when}"


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
