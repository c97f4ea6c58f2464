"""Pack files in a blob folder: what a crash, a damaged pack or a gc running beside a
writer leaves, and that the store still answers right afterwards (missing chunks sent
again, nothing unverified read)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from assay.artifacts.artifact import Artifact, download, log_artifact
from assay.errors import NotFound
from assay.records import ArtifactVersion
from assay.store.blobs import LocalBlobStore
from assay.store.packs import PackFolder
from assay.store.sql.schema import blobs as blobs_table
from assay.store.sql.store import SqlStore

CHUNKED = 3 << 20  # a file chunked into a few hundred blobs


def _file(folder: Path, seed: int, size: int = CHUNKED) -> Path:
    path = folder / f"file-{seed}.bin"
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def _log(store: SqlStore, path: Path) -> ArtifactVersion:
    art = Artifact("data")
    art.add_file(path, name="data.bin")
    return log_artifact(store, art, "p", progress=False)


def _same(store: SqlStore, version: ArtifactVersion, original: Path, out: Path) -> bool:
    return (download(store, version, out, progress=False) / "data.bin").read_bytes() == (
        original.read_bytes()
    )


def _packs(store: SqlStore) -> PackFolder:
    storage = store.blobs.storage
    assert isinstance(storage, LocalBlobStore)
    return storage.packs


def _chunks(store: SqlStore, version: ArtifactVersion) -> list[str]:
    chunks = store.artifacts.manifest(version.id).files[0].chunks
    assert chunks
    return [digest for digest, _ in chunks]


def test_chunks_are_stored_in_a_few_packs_not_a_file_each(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    original = _file(tmp_path, 1)
    version = _log(store, original)
    packs = list((tmp_path / "store" / "blobs" / "packs").glob("*.pack"))
    assert 1 <= len(packs) <= 2 and len(_chunks(store, version)) > 100
    assert not [p for p in (tmp_path / "store" / "blobs").iterdir() if len(p.name) == 2]
    assert _same(store, version, original, tmp_path / "out")


def test_a_folder_of_loose_blobs_reads_as_before_beside_packs(tmp_path: Path) -> None:
    old = LocalBlobStore(tmp_path / "blobs")
    loose = old.put(b"written before packs existed")
    assert (tmp_path / "blobs" / loose[:2] / loose[2:]).is_file()
    store = LocalBlobStore(tmp_path / "blobs")
    packed = store.put_many([b"one", b"two"])
    assert store.get(loose) == b"written before packs existed"
    assert store.get_many([packed[1], loose]) == [b"two", b"written before packs existed"]
    assert {b.digest for b in store.list()} == {loose, *packed}
    assert store.held([loose, *packed, "0" * 64]) == {loose, *packed}


def test_a_killed_writer_mid_pack_leaves_nothing_stored_and_the_chunks_are_sent_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    SqlStore.embedded(root).close()
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
        from tests.test_blob_packs import _file, _log
        from assay.store.sql.store import SqlStore
        store = SqlStore.embedded(Path({str(root)!r}))
        seed = 0
        while True:
            _log(store, _file(Path({str(tmp_path)!r}), seed, 24 << 20))
            print(seed, flush=True)
            seed += 1
        """
    )
    folder = root / "blobs" / "packs"
    command = [sys.executable, "-c", script]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        deadline, torn = time.monotonic() + 120, False
        while not torn and time.monotonic() < deadline and child.poll() is None:
            torn = folder.is_dir() and any(p.name.startswith(".tmp-") for p in folder.iterdir())
            time.sleep(0.0005)
        os.kill(child.pid, signal.SIGKILL)  # a pack half-written: kill its writer now
        out, _ = child.communicate()
    assert torn and child.returncode == -signal.SIGKILL
    done = [int(line) for line in out.split()]
    store = SqlStore.embedded(root)
    for seed in done:  # every version committed before the kill reads back whole
        version = store.artifacts.version("p", "data", f"v{seed + 1}")
        assert _same(store, version, tmp_path / f"file-{seed}.bin", tmp_path / f"out{seed}")
    storage = store.blobs.storage
    assert isinstance(storage, LocalBlobStore)
    storage.remove_stale_temps()
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    interrupted = tmp_path / f"file-{len(done)}.bin"  # what the child was writing
    version = _log(store, interrupted)
    assert store.blobs.missing(_chunks(store, version)) == []
    assert _same(store, version, interrupted, tmp_path / "again")


def _damage_one_pack(store: SqlStore, version: ArtifactVersion, how: str) -> list[str]:
    """Damage the pack holding the version's first chunk; the chunks it held."""
    packs = _packs(store)
    located = packs.find(_chunks(store, version)[0])
    assert located is not None
    held = [d for d in _chunks(store, version) if (f := packs.find(d)) and f.pack == located.pack]
    if how == "truncated pack":
        with open(packs.root / f"{located.pack}.pack", "r+b") as f:
            f.truncate(located.offset + located.size // 2)
    elif how == "torn index":
        index = packs.root / f"{located.pack}.idx"
        index.write_bytes(index.read_bytes()[:-7])
    else:  # a pack renamed into place, its writer killed before the index
        (packs.root / f"{located.pack}.idx").unlink()
    return held


@pytest.mark.parametrize("how", ["truncated pack", "torn index", "pack without index"])
def test_a_damaged_pack_is_ignored_and_its_chunks_are_sent_again(tmp_path: Path, how: str) -> None:
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    original = _file(tmp_path, 2, 40 << 20)  # more than one pack
    version = _log(store, original)
    lost = _damage_one_pack(store, version, how)
    store.close()
    store = SqlStore.embedded(root)  # another process opening the folder
    assert set(store.blobs.missing(_chunks(store, version))) == set(lost)
    with pytest.raises(NotFound):
        store.blobs.get(lost[0])
    again = _log(store, original)  # the same content: only the lost chunks go again
    assert again.id == version.id or store.blobs.missing(_chunks(store, again)) == []
    assert store.blobs.missing(_chunks(store, version)) == []
    assert _same(store, version, original, tmp_path / "out")


def test_gc_repacks_beside_a_writer_and_keeps_every_live_chunk(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    kept = _file(tmp_path, 3)
    version = _log(store, kept)
    # Garbage in the same packs as live chunks: blobs no version holds, stored long ago.
    garbage = [np.random.default_rng(100 + i).bytes(20_000) for i in range(200)]
    live_and_dead = store.blobs.put_many([kept.read_bytes()[:1000], *garbage])
    with store.engine.begin() as conn:
        stale = blobs_table.c.digest.in_(live_and_dead[1:])
        conn.execute(blobs_table.update().where(stale).values(stored_at=1.0))
    written: list[tuple[ArtifactVersion, Path]] = []
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for seed in range(10, 16):
                path = _file(tmp_path, seed, 3 << 19)
                written.append((_log(store, path), path))
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    reports = []
    while thread.is_alive() or not reports:
        reports.append(store.blobs.collect_garbage(grace=60, dry_run=False))
    thread.join()
    assert not failures
    assert sum(r.blobs for r in reports) == len(garbage)
    for digest in live_and_dead[1:]:
        with pytest.raises(NotFound):
            store.blobs.get(digest)
    assert store.blobs.get(live_and_dead[0]) == kept.read_bytes()[:1000]
    assert _same(store, version, kept, tmp_path / "kept")
    for i, (later, path) in enumerate(written):
        assert _same(store, later, path, tmp_path / f"later{i}")
    # Reopened, the folder's index agrees: nothing dead, nothing live lost.
    fresh = SqlStore.embedded(tmp_path / "store")
    assert fresh.blobs.missing(_chunks(fresh, version)) == []
    assert not {b.digest for b in fresh.blobs.storage.list()} & set(live_and_dead[1:])


def test_gc_removes_a_pack_whose_rows_were_never_written(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    storage = store.blobs.storage
    assert isinstance(storage, LocalBlobStore)
    strays = storage.put_many([b"x" * 9000, b"y" * 9000])  # killed before recording them
    assert store.blobs.missing(strays) == strays
    assert store.blobs.collect_garbage(grace=3600, dry_run=False).blobs == 0  # too recent
    report = store.blobs.collect_garbage(grace=-60, dry_run=False)
    assert report.blobs == 2
    assert not list((tmp_path / "store" / "blobs" / "packs").glob("*.pack"))


def test_a_reader_that_loaded_a_pack_before_gc_repacked_it_reads_from_the_new_pack(
    tmp_path: Path,
) -> None:
    collector = LocalBlobStore(tmp_path / "blobs")  # the gc's process
    reader = LocalBlobStore(tmp_path / "blobs")  # another process, its index loaded
    live, dead = collector.put_many([b"live" * 3000, b"dead" * 3000])
    assert reader.get(live) == b"live" * 3000
    old = reader.packs.find(live)
    assert old is not None
    collector.delete_many([dead])
    assert not (reader.packs.root / f"{old.pack}.pack").exists()  # repacked under the reader
    assert reader.get(live) == b"live" * 3000
    assert reader.get_many([live]) == [b"live" * 3000]
    with pytest.raises(NotFound):
        reader.get(dead)


def test_a_blob_whose_pack_another_process_removed_is_written_again(tmp_path: Path) -> None:
    collector = LocalBlobStore(tmp_path / "blobs")
    writer = LocalBlobStore(tmp_path / "blobs")
    (blob,) = writer.put_many([b"again" * 3000])
    collector.delete_many([blob])
    assert writer.put_many([b"again" * 3000]) == [blob]
    assert collector.get(blob) == writer.get(blob) == b"again" * 3000


def test_a_blob_in_two_packs_is_read_from_the_other_when_one_is_removed(tmp_path: Path) -> None:
    writer = LocalBlobStore(tmp_path / "blobs")
    (blob,) = writer.put_many([b"twice" * 3000])
    first = writer.packs.find(blob)
    assert first is not None
    for suffix in ("pack", "idx"):  # the same blob written by a second process at once
        copy = (writer.packs.root / f"{first.pack}.{suffix}").read_bytes()
        (writer.packs.root / f"{'f' * 32}.{suffix}").write_bytes(copy)
    reader = LocalBlobStore(tmp_path / "blobs")
    used = reader.packs.find(blob)
    assert used is not None
    for suffix in ("idx", "pack"):  # a gc elsewhere removes the pack this reader uses
        (reader.packs.root / f"{used.pack}.{suffix}").unlink()
    assert reader.get(blob) == b"twice" * 3000


def test_storing_a_packed_blob_again_keeps_it_from_a_gc_of_unrecorded_bytes(
    tmp_path: Path,
) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    storage = store.blobs.storage
    assert isinstance(storage, LocalBlobStore)
    (stray,) = storage.put_many([b"z" * 9000])  # a killed upload: bytes, no row
    located = storage.packs.find(stray)
    assert located is not None
    index = storage.packs.root / f"{located.pack}.idx"
    os.utime(index, (1.0, 1.0))  # long ago
    assert storage.put_many([b"z" * 9000]) == [stray]  # a new upload on its way
    assert store.blobs.collect_garbage(grace=60, dry_run=False).blobs == 0
    assert storage.get(stray) == b"z" * 9000


@pytest.mark.parametrize("refusal", ["EXDEV", "ENOSYS", "EINVAL", "copies nothing", "absent"])
def test_chunks_are_read_and_written_where_the_kernel_will_not_copy_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    calls: list[int] = []

    def refuse(src: int, dst: int, count: int, offset_src: int, offset_dst: int) -> int:
        calls.append(count)
        if refusal == "copies nothing":
            return 0
        code = getattr(errno, refusal)
        raise OSError(code, os.strerror(code))

    if refusal == "absent":
        monkeypatch.delattr(os, "copy_file_range")
    else:
        monkeypatch.setattr(os, "copy_file_range", refuse)
    store = SqlStore.embedded(tmp_path / "store")
    original = _file(tmp_path, 5)
    version = _log(store, original)
    assert bool(calls) == (refusal != "absent")
    assert store.blobs.missing(_chunks(store, version)) == []
    assert _same(store, version, original, tmp_path / "out")
    edited = tmp_path / "edited.bin"
    edited.write_bytes(original.read_bytes()[:1000] + b"edit" + original.read_bytes()[1000:])
    before = _stored_bytes(store)
    again = _log(store, edited)
    assert _stored_bytes(store) - before < 256 << 10  # only the chunks near the edit
    assert _same(store, again, edited, tmp_path / "out-edited")


def _stored_bytes(store: SqlStore) -> int:
    return sum(p.stat().st_size for p in _packs(store).root.glob("*.pack"))


def test_a_pack_copied_from_a_file_but_never_indexed_is_ignored_and_its_chunks_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = SqlStore.embedded(root)
    original = _file(tmp_path, 6)
    publish = PackFolder._publish

    def killed_before_the_index(self: PackFolder, name: str, parts: list[bytes]) -> None:
        if name.endswith(".idx"):
            raise KeyboardInterrupt  # the writer dies with its pack renamed, unindexed
        publish(self, name, parts)

    monkeypatch.setattr(PackFolder, "_publish", killed_before_the_index)
    with pytest.raises(KeyboardInterrupt):
        _log(store, original)
    monkeypatch.undo()
    store.close()
    assert list((root / "blobs" / "packs").glob("*.pack"))
    assert not list((root / "blobs" / "packs").glob("*.idx"))
    store = SqlStore.embedded(root)  # another process opening the folder
    with pytest.raises(NotFound):
        store.artifacts.versions("p", "data")
    version = _log(store, original)
    assert store.blobs.missing(_chunks(store, version)) == []
    assert _same(store, version, original, tmp_path / "out")
