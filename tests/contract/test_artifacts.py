"""The contract of ``store.artifacts``: every backend must pass all of these."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.artifacts import chunking
from assay.artifacts.artifact import log_artifact, resolve
from assay.errors import Conflict, InvalidInput, NotFound
from assay.records import ArtifactDraft, FileEntry, Manifest
from assay.store import Store
from tests.conftest import create_run, dataset_artifact


def test_versions_count_up_and_identical_content_returns_the_existing_one(
    store: Store, tmp_path: Path
) -> None:
    run_id = create_run(store)
    first = log_artifact(
        store=store, artifact=dataset_artifact(tmp_path), project="p", run_id=run_id
    )
    again = log_artifact(
        store=store, artifact=dataset_artifact(tmp_path), project="p", run_id=run_id
    )
    second = log_artifact(
        store=store,
        artifact=dataset_artifact(tmp_path / "2", b"a,b\n3,4\n"),
        project="p",
        run_id=run_id,
    )
    assert (first.version, first.created) == (0, True)
    assert (again.version, again.created, again.id) == (0, False, first.id)
    assert (second.version, second.created) == (1, True)
    assert [v.version for v in store.artifacts.versions("p", "digits-train")] == [1, 0]
    assert store.artifacts.version("p", "digits-train", "latest").id == second.id
    assert store.artifacts.version("p", "digits-train", "v0").metadata == {"rows": 1}
    assert second.aliases == ["latest"]
    info = store.artifacts.list("p")[0]
    assert (info.name, info.type, info.versions, info.latest) == ("digits-train", "dataset", 2, 1)


def test_aliases_move_and_resolve(store: Store, tmp_path: Path) -> None:
    v0 = log_artifact(store, dataset_artifact(tmp_path), "p", aliases=["production"])
    v1 = log_artifact(store, dataset_artifact(tmp_path / "2", b"other"), "p")
    assert store.artifacts.version("p", "digits-train", "production").id == v0.id
    store.artifacts.set_alias("p", "digits-train", "production", 1)
    assert resolve(store, "digits-train:production", "p").id == v1.id
    assert resolve(store, "p/digits-train:v0", None).id == v0.id
    store.artifacts.set_alias("p", "digits-train", "production", None)
    with pytest.raises(NotFound, match="production"):
        store.artifacts.version("p", "digits-train", "production")
    with pytest.raises(InvalidInput, match="latest"):
        store.artifacts.set_alias("p", "digits-train", "latest", 0)
    with pytest.raises(InvalidInput, match="version"):
        store.artifacts.set_alias("p", "digits-train", "v2", 0)


def test_a_manifest_naming_unstored_blobs_is_refused_and_leaves_no_version(store: Store) -> None:
    data = b"never uploaded"
    digest = chunking.split_bytes(data).digest
    entry = FileEntry(path="x.bin", size=len(data), digest=digest)
    draft = ArtifactDraft(
        project="p", name="ghost", type="dataset", manifest=Manifest(files=[entry])
    )
    with pytest.raises(Conflict, match="not stored"):
        store.artifacts.commit(draft)
    with pytest.raises(NotFound):
        store.artifacts.versions("p", "ghost")
    assert store.blobs.put(data) == digest
    assert store.artifacts.commit(draft).version == 0


def test_paths_are_normalised(store: Store) -> None:
    digest = store.blobs.put(b"x")
    entry = FileEntry(path="./a//b\\c.txt", size=1, digest=digest)
    draft = ArtifactDraft(project="p", name="n", type="dataset", manifest=Manifest(files=[entry]))
    version = store.artifacts.commit(draft)
    assert [f.path for f in store.artifacts.manifest(version.id).files] == ["a/b/c.txt"]


def test_bad_drafts_name_what_is_wrong(store: Store) -> None:
    digest = store.blobs.put(b"x")
    entry = FileEntry(path="a", size=1, digest=digest)

    def draft(**kw: object) -> ArtifactDraft:
        base: dict[str, object] = {"project": "p", "name": "n", "type": "dataset"}
        base["manifest"] = Manifest(files=[entry])
        return ArtifactDraft(**{**base, **kw})  # type: ignore[arg-type]

    store.artifacts.commit(draft())
    cases = {
        "artifact name": draft(name="bad name!"),
        "type": draft(type="model"),
        "at least one file": draft(manifest=Manifest(files=[])),
        "appears twice": draft(manifest=Manifest(files=[entry, entry])),
        "chunks": draft(
            manifest=Manifest(
                files=[FileEntry(path="b", size=2, digest=digest, chunks=[(digest, 1)])]
            )
        ),
        "does not exist": draft(run_id="nosuchrun"),
    }
    for message, bad in cases.items():
        with pytest.raises((InvalidInput, NotFound), match=message):
            store.artifacts.commit(bad)


def test_a_run_of_another_project_cannot_produce_a_version(store: Store, tmp_path: Path) -> None:
    other = create_run(store, project="other")
    with pytest.raises(InvalidInput, match="belongs to project 'other'"):
        log_artifact(store=store, artifact=dataset_artifact(tmp_path), project="p", run_id=other)
