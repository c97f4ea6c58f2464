"""The contract of ``store.prompts`` (labels and splits of prompt versions, which are
artifact versions of type ``prompt``): every backend must pass all of these."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import InvalidInput, NotFound
from assay.sdk import prompts
from assay.sdk.api import Api
from assay.store import Store
from assay.store.sql import audit
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory

SYSTEM = "You answer questions about {{ product }}."


def three_versions(store: Store) -> list[prompts.Prompt]:
    return [
        prompts.commit(store, "p", "support", f"{SYSTEM} Be {tone}. {{{{ question }}}}")
        for tone in ("brief", "warm", "formal")
    ]


def test_versions_are_numbered_immutable_artifacts_named_by_content(store: Store) -> None:
    one, two, three = three_versions(store)
    again = prompts.commit(store, "p", "support", f"{SYSTEM} Be brief. {{{{ question }}}}")
    assert [one.version, two.version, three.version, again.version] == [0, 1, 2, 0]
    assert one.variables == ["product", "question"] and one.type == "text"
    found = store.artifacts.version("p", "support", "v1")
    assert found.type == "prompt" and found.metadata["prompt"]["template"] == two.template
    assert [a.name for a in store.artifacts.list("p", type="prompt")] == ["support"]


def test_a_label_moves_with_reason_and_evidence_and_keeps_its_history(store: Store) -> None:
    three_versions(store)
    first = store.prompts.set_label("p", "support", "production", {"0": 100}, reason="first")
    moved = store.prompts.set_label(
        "p", "support", "production", {"v1": 100}, reason="warmer", evidence="eval-12"
    )
    assert (first.previous, moved.previous, moved.split) == ({}, {"0": 100.0}, {"1": 100.0})
    assert (moved.version, moved.evidence, moved.reason) == (1, "eval-12", "warmer")
    assert moved.actor
    assert store.prompts.label("p", "support", "production") == moved
    store.prompts.set_label("p", "support", "staging", {"2": 100})
    assert [x.label for x in store.prompts.labels("p", "support")] == ["production", "staging"]
    assert [(x.prompt, x.label) for x in store.prompts.list("p")] == [
        ("support", "production"),
        ("support", "staging"),
    ]
    history = store.prompts.history("p", "support", "production")
    assert [h.split for h in history] == [{"1": 100.0}, {"0": 100.0}]
    assert len(store.prompts.history("p", "support")) == 3


def test_a_label_points_at_a_weighted_split_kept_largest_first(store: Store) -> None:
    three_versions(store)
    move = store.prompts.set_label("p", "support", "production", {"2": 10, "v1": 90})
    assert list(move.split.items()) == [("1", 90.0), ("2", 10.0)]
    assert move.version is None
    read = store.prompts.label("p", "support", "production")
    assert list(read.split.items()) == [("1", 90.0), ("2", 10.0)]


def test_a_removed_label_is_gone_but_stays_in_the_history(store: Store) -> None:
    three_versions(store)
    store.prompts.set_label("p", "support", "staging", {"1": 100})
    removed = store.prompts.set_label("p", "support", "staging", None, reason="retired")
    assert not removed.active and removed.previous == {"1": 100.0}
    with pytest.raises(NotFound, match="no label 'staging'"):
        store.prompts.label("p", "support", "staging")
    assert store.prompts.labels("p", "support") == []
    assert [h.active for h in store.prompts.history("p", "support")] == [False, True]
    with pytest.raises(NotFound, match="no label 'staging'"):
        store.prompts.set_label("p", "support", "staging", None)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"1": 60, "2": 30}, "add up to 90, not 100"),
        ({"1": 120, "2": -20}, "percentages from 0 to 100"),
        ({"9": 100}, "no version v9 .it has v0, v1, v2."),
        ({"candidate": 100}, "must be a version of the prompt"),
        ({"1": "lots"}, "must be a number"),
        ({"1": 50, "v1": 50}, "given twice"),
    ],
)
def test_a_bad_split_is_refused_naming_what_is_wrong(
    store: Store, split: dict[str, object], message: str
) -> None:
    three_versions(store)
    store.prompts.set_label("p", "support", "production", {"1": 100})
    with pytest.raises(InvalidInput, match=message):
        store.prompts.set_label("p", "support", "production", split)  # type: ignore[arg-type]
    assert store.prompts.label("p", "support", "production").split == {"1": 100.0}


def test_unknown_prompts_labels_and_bad_label_names_are_refused(
    store: Store, tmp_path: Path
) -> None:
    three_versions(store)
    with pytest.raises(NotFound, match="no prompt 'other'"):
        store.prompts.set_label("p", "other", "production", {"1": 100})
    with pytest.raises(NotFound, match="no label 'canary'"):
        store.prompts.label("p", "support", "canary")
    with pytest.raises(InvalidInput, match="alias 'latest' is moved by Assay"):
        store.prompts.set_label("p", "support", "latest", {"1": 100})
    with pytest.raises(InvalidInput, match="must not look like a version"):
        store.prompts.set_label("p", "support", "v2", {"1": 100})
    data = tmp_path / "data.txt"
    data.write_text("x")
    digest = store.blobs.put(b"x")
    from assay.records import ArtifactDraft, FileEntry, Manifest

    store.artifacts.commit(
        ArtifactDraft(
            project="p",
            name="table",
            type="dataset",
            manifest=Manifest(files=[FileEntry(path="d.txt", size=1, digest=digest)]),
        )
    )
    with pytest.raises(NotFound, match="no prompt 'table'"):
        store.prompts.set_label("p", "table", "production", {"1": 100})


def test_every_label_move_is_in_the_audit_log(sql_store_factory: StoreFactory) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    three_versions(store)
    store.prompts.set_label("p", "support", "production", {"1": 100}, actor="user:ann")
    store.prompts.set_label(
        "p", "support", "production", {"1": 90, "2": 10}, reason="A/B", actor="user:bo"
    )
    store.prompts.set_label("p", "support", "production", None, actor="user:cy")
    found = audit.records(store.engine, target="prompt:p/support@production")
    assert [(r.action, r.actor) for r in found] == [
        ("prompt.label_moved", "user:ann"),
        ("prompt.label_moved", "user:bo"),
        ("prompt.label_removed", "user:cy"),
    ]
    assert audit.verify(store.engine).ok


def test_api_reads_prompts_versions_labels_and_a_keyed_arm(store: Store) -> None:
    three_versions(store)
    store.prompts.set_label("p", "support", "production", {"0": 50, "1": 50}, reason="A/B")
    api = Api(store=store)
    (info,) = api.prompts("p")
    assert (info.name, info.versions, info.latest) == ("support", 3, 2)
    assert [(x.label, x.split) for x in info.labels] == [("production", {"0": 50.0, "1": 50.0})]
    picks = {api.prompt("support@production", project="p", key=f"u{i}").version for i in range(40)}
    assert picks == {0, 1}
    same = api.prompt("support@production", project="p", key="u7")
    assert api.prompt("p/support@production", key="u7").version == same.version
    assert api.prompt("p/support:v2").format(product="A", question="q").endswith("formal. q")
    assert [v.version for v in api.prompt_versions("support", "p")] == [2, 1, 0]
    assert [x.reason for x in api.prompt_labels("support", "p", history=True)] == ["A/B"]
