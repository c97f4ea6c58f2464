"""Artifacts through the SDK and the domain on every backend: interrupted uploads, verified
downloads, path safety, lineage, chunking, garbage collection (the store's own contract is
tests/contract/test_artifacts.py)."""

from __future__ import annotations

import os
import random
import re
import threading
from pathlib import Path

import pytest

from assay.artifacts import chunking, transfer
from assay.artifacts.artifact import (
    Artifact,
    UsedArtifact,
    download,
    from_path,
    log_artifact,
)
from assay.artifacts.lineage import lineage
from assay.errors import CorruptData, InvalidInput, NotFound
from assay.records import ArtifactDraft, FileEntry, Manifest
from assay.store import Store, open_store
from assay.store.facets.blobs import FileRange
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, artifact_files, create_run, dataset_artifact


class _Flaky:
    """A store whose put_blob dies after ``allowed`` blobs, as a killed upload would."""

    def __init__(self, inner: Store, allowed: int) -> None:
        self.inner, self.allowed, self.sent = inner, allowed, 0
        self.lock = threading.Lock()
        self.blobs = _FlakyBlobs(self)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class _FlakyBlobs:
    """The flaky store's blobs facet: put_many and put_ranges fail part way; the rest is
    the inner's."""

    def __init__(self, store: _Flaky) -> None:
        self.store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self.store.inner.blobs, name)

    def put_many(self, blobs: list[bytes]) -> list[str]:
        store = self.store
        out = []
        for data in blobs:
            with store.lock:
                if store.sent >= store.allowed:
                    raise ConnectionError("killed")
                store.sent += 1
            out.extend(store.inner.blobs.put_many([data]))
        return out

    def put_ranges(self, ranges: list[FileRange]) -> None:
        store = self.store
        for item in ranges:
            with store.lock:
                if store.sent >= store.allowed:
                    raise ConnectionError("killed")
                store.sent += 1
            store.inner.blobs.put_ranges([item])


def test_an_interrupted_upload_leaves_no_version_and_a_retry_sends_only_what_is_missing(
    store: Store, tmp_path: Path
) -> None:
    big = random.Random(1).randbytes(6 << 20)
    art = Artifact("big", type="dataset")
    art.add_file(artifact_files(tmp_path, **{"big.bin": big}) / "big.bin")
    pieces = len(chunking.split_bytes(big).pieces)
    flaky = _Flaky(store, allowed=pieces // 2)
    with pytest.raises(ConnectionError):
        log_artifact(flaky, art, "p")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.artifacts.versions("p", "big")
    counting = _Flaky(store, allowed=10**9)
    version = log_artifact(counting, art, "p")  # type: ignore[arg-type]
    assert version.version == 0
    assert pieces // 2 <= pieces - counting.sent <= pieces  # stored chunks were not re-sent
    assert counting.sent > 0


def test_download_is_verified_cached_and_resumes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))
    big = random.Random(2).randbytes(3 << 20)
    art = Artifact("model", type="model")
    root = artifact_files(tmp_path, **{"weights.bin": big, "cfg__a.json": b"{}", "empty.txt": b""})
    art.add_dir(root)
    version = log_artifact(store, art, "p")
    assert sorted(f.path for f in store.artifacts.manifest(version.id).files) == [
        "cfg/a.json",
        "empty.txt",
        "weights.bin",
    ]
    where = UsedArtifact(store, version).download()
    assert (where / "weights.bin").read_bytes() == big
    assert (where / "cfg" / "a.json").read_bytes() == b"{}"
    assert (where / "empty.txt").read_bytes() == b""
    assert download(store, version) == where  # cached: complete marker
    target = tmp_path / "out"
    download(store, version, target)
    (target / "cfg" / "a.json").write_bytes(b"tampered")
    download(store, version, target)  # a damaged local copy is fetched again
    assert (target / "cfg" / "a.json").read_bytes() == b"{}"


def test_a_corrupted_blob_is_an_error_naming_the_file(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    art = Artifact("d", type="dataset")
    art.add_file(artifact_files(tmp_path, **{"notes.txt": b"hello world"}) / "notes.txt")
    version = log_artifact(store, art, "p")
    digest = store.artifacts.manifest(version.id).files[0].digest
    packs = store.blobs.storage.packs  # type: ignore[attr-defined]
    where = packs.find(digest)
    with open(packs.root / f"{where.pack}.pack", "r+b") as f:  # same length, other bytes
        f.seek(where.offset)
        f.write(b"HELLO WORLD")
    with pytest.raises(CorruptData, match=r"notes\.txt"):
        download(store, version, tmp_path / "out")
    assert not (tmp_path / "out" / "notes.txt").exists()


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../x", "C:/x", "", "a\x00b"])
def test_paths_that_escape_are_refused(store: Store, bad: str) -> None:
    digest = store.blobs.put(b"x")
    entry = FileEntry(path=bad, size=1, digest=digest)
    draft = ArtifactDraft(
        project="p", name="evil", type="dataset", manifest=Manifest(files=[entry])
    )
    with pytest.raises(InvalidInput, match="artifact path"):
        store.artifacts.commit(draft)
    with pytest.raises(InvalidInput):
        transfer.target_of(Path("/tmp/root"), bad)


def test_lineage_follows_used_and_produced_edges(store: Store, tmp_path: Path) -> None:
    prep = create_run(store, name="prep")
    data = log_artifact(store=store, artifact=dataset_artifact(tmp_path), project="p", run_id=prep)
    train = create_run(store, name="train")
    store.artifacts.record_use(train, data.id)
    model_art = Artifact("digits-model", type="model")
    model_art.add_file(artifact_files(tmp_path / "m", **{"m.bin": b"weights"}) / "m.bin")
    model = log_artifact(store=store, artifact=model_art, project="p", run_id=train)
    evaluate = create_run(store, name="eval")
    store.artifacts.record_use(evaluate, model.id)

    up = lineage(store, model, "up", depth=5)
    assert {n.label for n in up.nodes.values()} == {
        "digits-model:v0",
        "train",
        "digits-train:v0",
        "prep",
    }
    assert {(e.kind) for e in up.edges} == {"used", "produced"}
    down = lineage(store, data, "down", depth=5)
    assert {n.label for n in down.nodes.values()} == {
        "digits-train:v0",
        "train",
        "digits-model:v0",
        "eval",
    }
    assert [sorted(n.label for n in layer) for layer in down.layers()] == [
        ["digits-train:v0"],
        ["train"],
        ["digits-model:v0"],
        ["eval"],
    ]
    shallow = lineage(store, model, "both", depth=1)
    assert {n.label for n in shallow.nodes.values()} == {"digits-model:v0", "train", "eval"}
    with pytest.raises(InvalidInput, match="direction"):
        lineage(store, model, "sideways")  # type: ignore[arg-type]


def test_chunking_stores_little_for_scattered_edits_and_an_insert(tmp_path: Path) -> None:
    rng = random.Random(3)
    base = bytearray(rng.randbytes(64 << 20))
    first = {p.digest for p in chunking.split_bytes(bytes(base)).pieces}
    edited = bytearray(base)
    # 1% of the bytes rewritten in places of ~100 KiB each (100 such places in 1 GiB; the
    # benchmark measures the 1 GiB case and denser edits)
    places, region = 6, len(base) // 600
    for i in range(places):
        start = i * (len(base) // places) + rng.randrange(len(base) // (2 * places))
        edited[start : start + region] = rng.randbytes(region)
    inserted = rng.randbytes(1 << 20) + bytes(base)
    for changed in (bytes(edited), inserted):
        pieces = chunking.split_bytes(changed).pieces
        new = sum(p.size for p in pieces if p.digest not in first)
        assert new <= 0.05 * len(changed) + (1 << 20 if changed is inserted else 0)


def test_files_over_the_threshold_are_chunked_and_small_ones_are_whole() -> None:
    small = chunking.split_bytes(b"x" * 100)
    assert not small.chunked and small.pieces[0].digest == small.digest
    large = chunking.split_bytes(random.Random(4).randbytes(chunking.SMALL_FILE + 1))
    assert large.chunked
    assert sum(p.size for p in large.pieces) == large.size
    assert all(p.size <= chunking.MAX_CHUNK for p in large.pieces)


def test_references_are_recorded_by_digest_and_a_changed_one_is_refused(
    store: Store, tmp_path: Path
) -> None:
    shards = artifact_files(
        tmp_path, **{"shard-1.parquet": b"one", "shard-2.parquet": b"two", "x.txt": b"no"}
    )
    art = Artifact("big", type="dataset")
    assert art.add_reference(f"file://{shards}/shard-*.parquet") == [
        "shard-1.parquet",
        "shard-2.parquet",
    ]
    version = log_artifact(store, art, "p")
    files = store.artifacts.manifest(version.id).files
    assert [f.ref for f in files] == [
        f"file://{shards}/shard-1.parquet",
        f"file://{shards}/shard-2.parquet",
    ]
    out = download(store, version, tmp_path / "out")
    assert (out / "shard-2.parquet").read_bytes() == b"two"
    (shards / "shard-2.parquet").write_bytes(b"changed")
    with pytest.raises(CorruptData, match=r"shard-2\.parquet.*changed"):
        download(store, version, tmp_path / "out2")
    with pytest.raises(NotFound):
        Artifact("x").add_reference(f"file://{shards}/nothing-*.bin")
    with pytest.raises(InvalidInput, match="scheme"):
        Artifact("x").add_reference("ftp://host/file")


def test_artifact_builder_refuses_bad_input(tmp_path: Path) -> None:
    art = Artifact("a")
    with pytest.raises(InvalidInput, match="not a file"):
        art.add_file(tmp_path / "missing")
    with pytest.raises(InvalidInput, match="not a directory"):
        art.add_dir(tmp_path / "missing")
    path = artifact_files(tmp_path, **{"f.txt": b"1"}) / "f.txt"
    art.add_file(path)
    with pytest.raises(InvalidInput, match="already has a file"):
        art.add_file(path)
    with pytest.raises(InvalidInput, match="escapes"):
        art.add_file(path, name="../f.txt")
    with pytest.raises(InvalidInput, match="artifact name"):
        Artifact("no spaces allowed")


def test_gc_removes_only_unheld_old_blobs_and_dry_runs_by_default(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    kept = log_artifact(store, dataset_artifact(tmp_path), "p")
    orphan = store.blobs.put(b"nobody holds me")
    stray = store.blobs.storage.put(b"bytes with no row")  # an upload that died before recording
    fresh = store.blobs.put(b"just uploaded, commit on its way")
    old = [orphan, stray]
    root: Path = store.blobs.storage.root  # type: ignore[attr-defined]
    for digest in old:
        os.utime(root / digest[:2] / digest[2:], (1, 1))
    with store.engine.begin() as conn:
        from assay.store.sql.schema import blobs

        conn.execute(blobs.update().where(blobs.c.digest == orphan).values(stored_at=1.0))
    report = store.blobs.collect_garbage(grace=3600)
    assert report.dry_run and report.blobs == 2
    assert store.blobs.get(orphan)  # nothing removed in a dry run
    report = store.blobs.collect_garbage(grace=3600, dry_run=False)
    assert (report.dry_run, report.blobs) == (False, 2)
    for digest in old:
        with pytest.raises(NotFound):
            store.blobs.get(digest)
    assert store.blobs.missing([orphan, fresh]) == [orphan]
    assert download(store, kept, tmp_path / "out").joinpath("train.csv").exists()


# ---- symbolic links in a logged folder -----------------------------------------------------


def _linked_folder(tmp_path: Path) -> tuple[Path, Path]:
    """(the folder to log, a folder beside it that it must not leak)."""
    root = artifact_files(tmp_path, **{"data__a.csv": b"a", "shared__s.bin": b"s"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not part of the artifact")
    return root, outside


def test_links_inside_the_folder_are_followed_and_stored_with_their_content(
    tmp_path: Path,
) -> None:
    root, _ = _linked_folder(tmp_path)
    (root / "latest").symlink_to("data", target_is_directory=True)
    (root / "alias.csv").symlink_to(root / "data" / "a.csv")
    (root / "data" / "up.bin").symlink_to("../shared/s.bin")
    store = open_store(tmp_path / "store")
    try:
        art = Artifact("linked")
        added = art.add_dir(root)
        version = log_artifact(store, art, "p")
        target = download(store, version, tmp_path / "out")
    finally:
        store.close()
    expected = ["alias.csv", "data/a.csv", "data/up.bin", "latest/a.csv", "latest/up.bin"]
    assert added == [*expected, "shared/s.bin"]
    assert (target / "latest" / "a.csv").read_bytes() == b"a"
    assert (target / "alias.csv").read_bytes() == b"a"
    assert (target / "latest" / "up.bin").read_bytes() == b"s"
    assert not (target / "latest").is_symlink()


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_link_pointing_outside_the_folder_is_refused_naming_link_and_target(
    tmp_path: Path, kind: str
) -> None:
    root, outside = _linked_folder(tmp_path)
    link = root / "data" / "leak"
    link.symlink_to(outside / "secret.txt" if kind == "file" else outside)
    with pytest.raises(InvalidInput) as refused:
        Artifact("linked").add_dir(root)
    message = str(refused.value)
    assert str(link) in message and str(outside) in message and "follow_symlinks" in message
    with pytest.raises(InvalidInput, match="outside"):
        from_path(root, None, "dataset")  # run.log_artifact(folder) takes this way


def test_follow_symlinks_stores_what_outside_links_point_at(tmp_path: Path) -> None:
    root, outside = _linked_folder(tmp_path)
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "ext").symlink_to(outside, target_is_directory=True)
    added = Artifact("linked").add_dir(root, follow_symlinks=True)
    assert {"leak.txt", "ext/secret.txt"} <= set(added)


def test_a_broken_link_is_refused_naming_it(tmp_path: Path) -> None:
    root, _ = _linked_folder(tmp_path)
    (root / "data" / "gone.csv").symlink_to(root / "data" / "deleted.csv")
    for follow in (False, True):
        with pytest.raises(InvalidInput, match=r"broken.*gone\.csv.*deleted\.csv"):
            Artifact("linked").add_dir(root, follow_symlinks=follow)


def test_a_link_that_makes_a_cycle_is_refused_naming_it(tmp_path: Path) -> None:
    root, _ = _linked_folder(tmp_path)
    (root / "data" / "loop").symlink_to(root, target_is_directory=True)
    with pytest.raises(InvalidInput, match=r"loop.*cycle"):
        Artifact("linked").add_dir(root)
    (root / "data" / "loop").unlink()
    (root / "data" / "self").symlink_to("self")  # a link to itself never resolves
    with pytest.raises(InvalidInput, match=r"self"):
        Artifact("linked").add_dir(root)


def test_a_folder_given_through_a_link_is_logged_as_its_target(tmp_path: Path) -> None:
    root, _ = _linked_folder(tmp_path)
    (tmp_path / "current").symlink_to(root, target_is_directory=True)
    assert Artifact("linked").add_dir(tmp_path / "current") == ["data/a.csv", "shared/s.bin"]


def test_special_files_in_a_folder_are_refused_not_skipped(tmp_path: Path) -> None:
    root, _ = _linked_folder(tmp_path)
    os.mkfifo(root / "data" / "pipe")
    with pytest.raises(InvalidInput, match=r"pipe.*not a regular file"):
        Artifact("linked").add_dir(root)


def test_a_reference_glob_follows_linked_folders_and_names_a_broken_match(
    tmp_path: Path,
) -> None:
    root, outside = _linked_folder(tmp_path)
    (outside / "more.csv").write_bytes(b"m")
    (root / "ext").symlink_to(outside, target_is_directory=True)
    (root / "data" / "gone.txt").symlink_to(root / "nowhere")  # broken, but not matched
    added = Artifact("refs").add_reference(f"file://{root}/*.csv")
    assert added == ["data/a.csv", "ext/more.csv"]
    (root / "data" / "gone.csv").symlink_to(root / "nowhere")
    with pytest.raises(InvalidInput, match=r"broken.*gone\.csv"):
        Artifact("refs").add_reference(f"file://{root}/*.csv")


def test_digests_of_bytes_files_and_values_agree(tmp_path: Path) -> None:
    """One BLAKE3 naming everywhere: a file's digest is its bytes' digest (threaded or not,
    empty or not), and canonical values ignore key order and numpy types."""
    import numpy as np
    from blake3 import blake3

    from assay import digests

    for size in (0, 100, digests.PARALLEL_ABOVE + 1):
        data = random.Random(size).randbytes(size)
        (tmp_path / "f").write_bytes(data)
        expected = blake3(data).hexdigest()
        assert digests.of_bytes(data) == digests.of_file(tmp_path / "f") == expected
        assert chunking.split(tmp_path / "f").digest == expected
    assert digests.of_value({"a": 1, "b": [2.5]}) == digests.of_value({"b": [2.5], "a": 1})
    assert digests.canonical({"x": np.int64(3)}) == digests.canonical({"x": 3})


def test_a_file_changed_after_it_was_split_fails_the_upload_naming_it_and_stores_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random.Random(9).randbytes(6 << 20)
    path = artifact_files(tmp_path, **{"big.bin": data}) / "big.bin"
    split = chunking.split
    found: list[str] = []

    def split_then_edit(local: Path, part: object = None) -> chunking.Split:
        done = split(local, part)  # type: ignore[arg-type]
        found.extend(p.digest for p in done.pieces)
        with open(local, "r+b") as f:  # edited after the split, before its chunks are sent
            f.seek(len(data) - 100)
            f.write(b"edited")
        return done

    monkeypatch.setattr(chunking, "split", split_then_edit)
    art = Artifact("big", type="dataset")
    art.add_file(path)
    with pytest.raises(InvalidInput, match=re.escape(f"{path} changed while it was being stored")):
        log_artifact(store, art, "p")
    with pytest.raises(NotFound):
        store.artifacts.versions("p", "big")
    monkeypatch.undo()
    assert set(store.blobs.missing(found)) == set(found)  # not one chunk stored
    version = log_artifact(store, art, "p")  # the file as it is now
    out = download(store, version, tmp_path / "out")
    assert (out / "big.bin").read_bytes() == path.read_bytes()
