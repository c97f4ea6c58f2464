"""The contract of ``store.sweeps`` on every backend: a sweep round-trips, one claim per
trial number wins, trials end once, and bad input is named."""

from __future__ import annotations

import pytest

from assay.errors import Conflict, InvalidInput, NotFound
from assay.records import SweepDraft, TrialClaim, TrialResult
from assay.store import Store

SPEC = {"parameters": {"lr": {"values": [0.1, 0.01]}}, "metric": {"name": "loss"}}


def draft(**changes: object) -> SweepDraft:
    fields: dict[str, object] = {
        "project": "p",
        "name": "lr",
        "method": "grid",
        "spec": SPEC,
        "max_trials": 2,
    }
    return SweepDraft(**{**fields, **changes})  # type: ignore[arg-type]


def claim(number: int, run_id: str = "r0", **params: object) -> TrialClaim:
    return TrialClaim(number=number, params=params or {"lr": 0.1}, run_id=run_id, worker="w")


def test_a_sweep_round_trips_and_is_listed_by_project(store: Store) -> None:
    made = store.sweeps.create(draft())
    got = store.sweeps.get(made.id)
    assert (got.project, got.name, got.method, got.spec, got.max_trials) == (
        "p",
        "lr",
        "grid",
        SPEC,
        2,
    )
    assert [s.id for s in store.sweeps.list("p")] == [made.id]
    assert store.sweeps.list("other") == []
    with pytest.raises(NotFound):
        store.sweeps.get("nope")


def test_one_claim_per_trial_number_wins(store: Store) -> None:
    sweep = store.sweeps.create(draft())
    first = store.sweeps.claim(sweep.id, claim(0, "run-a"))
    assert (first.number, first.state, first.run_id, first.params) == (
        0,
        "running",
        "run-a",
        {"lr": 0.1},
    )
    with pytest.raises(Conflict, match="claimed already"):
        store.sweeps.claim(sweep.id, claim(0, "run-b"))
    store.sweeps.claim(sweep.id, claim(1, "run-c", lr=0.01))
    with pytest.raises(InvalidInput, match="holds 2 trials"):
        store.sweeps.claim(sweep.id, claim(2, "run-d"))
    assert [(t.number, t.run_id) for t in store.sweeps.trials(sweep.id)] == [
        (0, "run-a"),
        (1, "run-c"),
    ]


def test_a_trial_ends_once_with_its_value(store: Store) -> None:
    sweep = store.sweeps.create(draft(max_trials=None))
    store.sweeps.claim(sweep.id, claim(0))
    done = store.sweeps.finish(sweep.id, 0, TrialResult(state="complete", value=0.25))
    assert (done.state, done.value) == ("complete", 0.25)
    assert done.finished_at is not None
    with pytest.raises(Conflict, match="complete already"):
        store.sweeps.finish(sweep.id, 0, TrialResult(state="pruned", value=1.0))
    with pytest.raises(NotFound):
        store.sweeps.finish(sweep.id, 7, TrialResult(state="failed"))
    with pytest.raises(InvalidInput, match="not 'running'"):
        store.sweeps.finish(sweep.id, 0, TrialResult(state="running"))


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (draft(method="hyperband"), "sweep method"),
        (draft(name=""), "sweep name"),
        (draft(project="no way"), "project name"),
        (draft(max_trials=0), "max_trials"),
        (draft(spec={"a\x00": 1}), "NUL"),
    ],
)
def test_a_bad_sweep_is_refused_naming_what_is_wrong(
    store: Store, bad: SweepDraft, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        store.sweeps.create(bad)
    assert store.sweeps.list("p") == []
