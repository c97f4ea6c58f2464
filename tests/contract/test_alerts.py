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


def test_a_due_delivery_is_claimed_by_one_sender_until_its_lease_runs_out(store: Store) -> None:
    monitor = create_run(store=store, project="p")
    opened = store.alerts.open(_draft(monitor))
    assert opened is not None
    claimed = store.alerts.claim(opened.id, "fired", 1000.0, 60.0)
    assert claimed is not None and claimed.deliveries["fired"]["state"] == "sending"
    assert store.alerts.claim(opened.id, "fired", 1030.0, 60.0) is None  # held
    assert store.alerts.claim(opened.id, "resolved", 1030.0, 60.0) is None  # not resolved
    again = store.alerts.claim(opened.id, "fired", 1060.0, 60.0)  # the sender died
    assert again is not None and again.deliveries["fired"]["lease_until"] == 1120.0
    pending = {"state": "pending", "attempts": 1, "error": "HTTP 503", "next_at": 1200.0}
    store.alerts.delivered(opened.id, "fired", pending)
    assert store.alerts.claim(opened.id, "fired", 1199.0, 60.0) is None  # not yet
    assert store.alerts.claim(opened.id, "fired", 1200.0, 60.0) is not None
    store.alerts.delivered(opened.id, "fired", {"state": "delivered", "attempts": 2})
    assert store.alerts.claim(opened.id, "fired", 9999.0, 60.0) is None  # final
    with pytest.raises(InvalidInput, match="event"):
        store.alerts.claim(opened.id, "bounced", 1000.0, 60.0)


def test_a_resolution_is_delivered_after_the_firing_is_final(store: Store) -> None:
    monitor = create_run(store=store, project="p")
    opened = store.alerts.open(_draft(monitor))
    assert opened is not None
    store.alerts.resolve(monitor, "drift", 5, 0.0)
    assert store.alerts.claim(opened.id, "resolved", 1000.0, 60.0) is None  # fired first
    store.alerts.delivered(opened.id, "fired", {"state": "failed", "attempts": 1})
    assert store.alerts.claim(opened.id, "resolved", 1000.0, 60.0) is not None


def test_undelivered_lists_incidents_with_a_delivery_not_final_oldest_first(
    store: Store,
) -> None:
    monitor = create_run(store=store, project="p")
    first = store.alerts.open(_draft(monitor, step=1))
    assert first is not None
    store.alerts.resolve(monitor, "drift", 2, 0.0)
    second = store.alerts.open(_draft(monitor, step=4))
    assert second is not None
    assert [a.id for a in store.alerts.undelivered(monitor, 0.0)] == [first.id, second.id]
    for event in ("fired", "resolved"):
        store.alerts.delivered(first.id, event, {"state": "delivered", "attempts": 1})
    store.alerts.delivered(second.id, "fired", {"state": "pending", "next_at": 5.0})
    assert [a.id for a in store.alerts.undelivered(monitor, 0.0)] == [second.id]
    # an open incident stays listed however old; closed ones only since ``since``
    assert [a.id for a in store.alerts.undelivered(monitor, 4e12)] == [second.id]
    # an outcome recorded before delivery states were kept is final
    store.alerts.delivered(second.id, "fired", {"ok": False, "attempts": 4})
    assert store.alerts.undelivered(monitor, 0.0) == []
