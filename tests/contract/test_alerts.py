"""The contract of ``store.alerts``: every backend must pass all of these."""

from __future__ import annotations

import pytest

from assay.errors import InvalidInput, NotFound
from assay.records import AlertDraft
from assay.store import Store
from tests.conftest import StoreFactory, create_run


def _draft(monitor_id: str, rule: str = "drift", step: int = 3) -> AlertDraft:
    return AlertDraft(monitor_id=monitor_id, rule=rule, step=step, value=1.0, detail={"m": "x"})


def test_an_incident_opens_once_and_resolves_once(store: Store) -> None:
    monitor = create_run(store=store, project="p")
    opened = store.alerts.open(_draft(monitor))
    assert opened is not None and opened.project == "p" and opened.resolved_at is None
    assert store.alerts.open(_draft(monitor, step=4)) is None  # the same incident
    assert [a.id for a in store.alerts.list("p", open_only=True)] == [opened.id]
    resolved = store.alerts.resolve(monitor, "drift", 6, 0.0)
    assert resolved is not None and resolved.id == opened.id and resolved.resolved_step == 6
    assert store.alerts.resolve(monitor, "drift", 7, 0.0) is None
    assert store.alerts.list("p", open_only=True) == []


def test_a_new_incident_opens_after_resolution_and_rules_are_separate(store: Store) -> None:
    monitor = create_run(store=store, project="p")
    first = store.alerts.open(_draft(monitor, step=1))
    other = store.alerts.open(_draft(monitor, rule="p99_ms > 50", step=1))
    assert first is not None and other is not None
    store.alerts.resolve(monitor, "drift", 2, 0.0)
    second = store.alerts.open(_draft(monitor, step=5))
    assert second is not None and second.id != first.id
    assert store.alerts.open(_draft(monitor, step=1)) is None  # incident 1 happened already
    listed = store.alerts.list(monitor_id=monitor)
    assert {a.id for a in listed} == {first.id, second.id, other.id}


def test_deliveries_are_recorded_per_event(store: Store) -> None:
    monitor = create_run(store=store, project="p")
    opened = store.alerts.open(_draft(monitor))
    assert opened is not None
    store.alerts.delivered(opened.id, "fired", {"ok": True, "attempts": 2})
    assert store.alerts.get(opened.id).deliveries == {"fired": {"ok": True, "attempts": 2}}
    with pytest.raises(InvalidInput, match="event"):
        store.alerts.delivered(opened.id, "bounced", {})


def test_alerts_of_an_unknown_monitor_are_refused(store_factory: StoreFactory) -> None:
    store = store_factory()
    with pytest.raises(NotFound, match="nope"):
        store.alerts.open(_draft("nope"))
    with pytest.raises(NotFound):
        store.alerts.get("nope")
