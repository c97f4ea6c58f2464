"""The contract of ``store.models`` (the registry): every backend must pass all of these."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from assay.artifacts.artifact import Artifact, log_artifact
from assay.errors import InvalidInput, NotFound
from assay.records import ModelServer, ServedModel
from assay.store import Store
from tests.conftest import log_model


def test_register_numbers_versions_and_is_idempotent(store: Store, tmp_path: Path) -> None:
    a, b = log_model(store, tmp_path, b"one"), log_model(store, tmp_path, b"two")
    first = store.models.register(a.id, "digits-classifier", description="baseline")
    second = store.models.register(b.id, "digits-classifier")
    again = store.models.register(a.id, "digits-classifier")
    assert (first.version, first.created, second.version) == (1, True, 2)
    assert (again.version, again.created) == (1, False)
    assert first.artifact.id == a.id and first.description == "baseline"
    assert [v.version for v in store.models.versions("digits-classifier")] == [2, 1]
    model = store.models.get("digits-classifier")
    assert (model.project, model.latest) == ("p", 2)
    assert [m.name for m in store.models.list("p")] == ["digits-classifier"]
    assert store.models.list("elsewhere") == []


def test_alias_moves_are_recorded_with_reason_and_evidence(store: Store, tmp_path: Path) -> None:
    a, b = log_model(store, tmp_path, b"one"), log_model(store, tmp_path, b"two")
    store.models.register(a.id, "clf")
    store.models.register(b.id, "clf")
    store.models.set_alias("clf", "production", 1, reason="first")
    move = store.models.set_alias("clf", "production", 2, reason="beats v1", evidence="eval-12")
    assert (move.previous, move.version, move.evidence) == (1, 2, "eval-12")
    assert move.actor
    assert store.models.version("clf", "production").version == 2
    assert store.models.version("clf", "production").aliases == ["production"]
    assert store.models.get("clf").aliases == {"production": 2}
    history = store.models.alias_history("clf")
    assert [(h.version, h.previous, h.reason) for h in history] == [
        (2, 1, "beats v1"),
        (1, None, "first"),
    ]
    store.models.set_alias("clf", "production", None, reason="withdrawn")
    with pytest.raises(NotFound, match="production"):
        store.models.version("clf", "production")
    assert store.models.alias_history("clf", "production")[0].version is None


def test_registry_refuses_bad_requests(store: Store, tmp_path: Path) -> None:
    model = log_model(store, tmp_path, b"one")
    data = Artifact("data", type="dataset")
    (tmp_path / "d.csv").write_text("a\n1\n")
    data.add_file(tmp_path / "d.csv")
    dataset = log_artifact(store, data, "p")
    with pytest.raises(InvalidInput, match="only 'model' artifacts"):
        store.models.register(dataset.id, "clf")
    with pytest.raises(NotFound):
        store.models.register("nosuchversion", "clf")
    store.models.register(model.id, "clf")
    with pytest.raises(NotFound, match="no version"):
        store.models.set_alias("clf", "production", 7)
    with pytest.raises(InvalidInput, match="latest"):
        store.models.set_alias("clf", "latest", 1)
    with pytest.raises(NotFound, match="nope"):
        store.models.set_alias("nope", "production", 1)
    with pytest.raises(InvalidInput, match="model name"):
        store.models.register(model.id, "bad name")


# ---- traffic policies ----------------------------------------------------------------------


def _two_versions(store: Store, tmp_path: Path) -> None:
    a, b = log_model(store, tmp_path, b"one"), log_model(store, tmp_path, b"two")
    store.models.register(a.id, "clf")
    store.models.register(b.id, "clf")
    store.models.set_alias("clf", "production", 1)
    store.models.set_alias("clf", "candidate", 2)


def test_a_traffic_policy_is_kept_with_its_history(store: Store, tmp_path: Path) -> None:
    _two_versions(store, tmp_path)
    assert store.models.traffic("clf") is None
    first = store.models.set_traffic(
        "clf", {"candidate": 10, "production": 90}, sticky="header:X-User-Id", reason="canary"
    )
    assert list(first.split.items()) == [("production", 90.0), ("candidate", 10.0)]
    assert first.sticky == "header:x-user-id" and first.shadow == {} and first.actor
    assert store.models.traffic("clf") == first
    second = store.models.set_traffic(
        "clf", {"production": 100}, shadow={"v2": 20}, sticky="input:user_id"
    )
    assert (second.split, second.shadow, second.sticky) == (
        {"production": 100.0},
        {"2": 20.0},
        "input:user_id",
    )
    assert store.models.traffic("clf") == second
    cleared = store.models.set_traffic("clf", None, reason="done")
    assert not cleared.active and store.models.traffic("clf") is None
    history = store.models.traffic_history("clf")
    assert [h.reason for h in history] == ["done", None, "canary"]
    assert history[1] == second and history[2] == first
    with pytest.raises(NotFound, match="no traffic policy"):
        store.models.set_traffic("clf", None)


@pytest.mark.parametrize(
    ("split", "options", "problem"),
    [
        ({"production": 90, "candidate": 20}, {}, "add up to 110, not 100"),
        ({"production": 50}, {}, "add up to 50, not 100"),
        ({"production": 110, "candidate": -10}, {}, "'production' is 110"),
        ({"production": 100, "candidate": -10}, {}, "'candidate' is -10"),
        ({"production": 90, "staging": 10}, {}, "no alias 'staging'"),
        ({"production": 90, "7": 10}, {}, "no version '7'"),
        ({"production": 90, "candidate": "ten"}, {}, "must be a number"),
        ({"production": 100}, {"shadow": {"candidate": 0}}, "above 0 and at most 100"),
        ({"production": 100}, {"shadow": {"candidate": 150}}, "above 0 and at most 100"),
        ({"production": 100}, {"shadow": {"nope": 10}}, "no alias 'nope'"),
        ({"production": 90, "candidate": 10}, {"shadow": {"candidate": 5}}, "in the shadow"),
        ({"production": 100}, {"sticky": "cookie:sid"}, "header:<name>"),
        ({"production": 100}, {"sticky": "header:"}, "header:<name>"),
        ({"1": 50, "v1": 50}, {}, "given twice"),
    ],
)
def test_a_bad_traffic_policy_is_refused_naming_the_problem(
    store: Store, tmp_path: Path, split: dict, options: dict, problem: str
) -> None:
    _two_versions(store, tmp_path)
    store.models.set_alias("clf", "production", 1)
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        store.models.set_traffic("clf", split, **options)
    assert store.models.traffic("clf") is None and store.models.traffic_history("clf") == []


def test_traffic_of_an_unknown_model_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.models.traffic("nope")
    with pytest.raises(NotFound):
        store.models.set_traffic("nope", {"production": 100})


# ---- model servers ---------------------------------------------------------------------------


def _server(id: str = "s1", interval: float = 10.0, **changes: object) -> ModelServer:
    fields: dict[str, object] = {
        "id": id,
        "url": "http://127.0.0.1:5252",
        "host": "box",
        "pid": 4242,
        "models": [ServedModel(name="clf", uri="models:/clf@production", arms={"production": 1})],
        "started_at": 1_700_000_000.0,
        "interval": interval,
        **changes,
    }
    return ModelServer(**fields)  # type: ignore[arg-type]


def test_a_model_server_is_announced_refreshed_and_withdrawn(store: Store, tmp_path: Path) -> None:
    _two_versions(store, tmp_path)
    assert store.models.servers("clf") == []
    first = store.models.announce(_server())
    assert first.live and first.url == "http://127.0.0.1:5252" and first.heartbeat_at > 0
    moved = [ServedModel(name="clf", uri="models:/clf@production", arms={"production": 2})]
    second = store.models.announce(_server(models=moved))
    assert second.heartbeat_at >= first.heartbeat_at
    assert second.started_at == first.started_at
    [listed] = store.models.servers("clf")
    assert listed.models == moved and listed.pid == 4242 and listed.live
    assert store.models.servers() == [listed]
    with pytest.raises(NotFound):
        store.models.servers("other")
    store.models.withdraw("s1")
    assert store.models.servers("clf") == []
    store.models.withdraw("s1")  # withdrawing twice is harmless


def test_a_silent_model_server_reads_as_gone(store: Store, tmp_path: Path) -> None:
    _two_versions(store, tmp_path)
    store.models.announce(_server("old", interval=0.001, url="http://10.0.0.1:1"))
    store.models.announce(_server("new", interval=600.0))
    time.sleep(0.05)  # well past three heartbeats of 1 ms: "old" is late, not live
    found = store.models.servers("clf")
    assert [(s.id, s.live) for s in found] == [("new", True), ("old", False)]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"url": "ftp://x"}, "http://"),
        ({"interval": 0.0}, "interval"),
        ({"models": []}, "1 to 64 models"),
        ({"models": [ServedModel(name="nope", uri="models:/nope/1", arms={"1": 1})]}, "nope"),
    ],
)
def test_a_bad_server_announcement_is_refused(
    store: Store, tmp_path: Path, changes: dict, problem: str
) -> None:
    _two_versions(store, tmp_path)
    with pytest.raises((InvalidInput, NotFound), match=re.escape(problem)):
        store.models.announce(_server(**changes))
    assert store.models.servers() == []
