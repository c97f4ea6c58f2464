"""Pack files: many blobs in one append-only file, found through an index file written
after the pack is durable (as restic and git do), so a GiB is about a hundred files and
fsyncs rather than tens of thousands.

Under ``<blob folder>/packs/``:

- ``<id>.pack``: ``ASSAYPK1`` then the blobs' bytes back to back;
- ``<id>.idx``: ``ASSAYIX1``, the pack's length (u64), one entry per blob (digest,
  offset, length), then the BLAKE3 digest of everything before it.

A pack is written under a temp name, fsynced, renamed; then its index likewise; then the
folder is fsynced. The index is the commit point: a pack without one (a writer killed
mid-pack), an index whose checksum fails (torn), or a pack shorter than its index says
(truncated) is ignored, so its blobs read as not stored and are sent again. Every read is
still checked against the blob's digest by the caller.

Garbage collection repacks: the live blobs of a pack that holds dead ones are written to
a new pack (published first), then the old index and pack are removed. A reader whose
pack vanished under it looks at the folder again and reads the blob from its new pack;
a blob whose bytes no longer match its digest is not copied (it reads as missing and
is sent again).

The format is hand-written: no maintained library writes restic- or git-style packs for
Python, and the whole of it is the few lines below.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from blake3 import blake3

from assay.digests import of_bytes

PACK_MAGIC = b"ASSAYPK1"
INDEX_MAGIC = b"ASSAYIX1"
_HEAD = struct.Struct("<8sQ")  # magic, pack length
_ENTRY = struct.Struct("<32sQI")  # digest, offset, length
_SUM = 32
PACK_TARGET = 64 << 20  # a writer starts a new pack past this many bytes
TEMP = ".tmp-"


class Located(NamedTuple):
    pack: str  # the pack's id
    offset: int
    size: int


class PackedBlob(NamedTuple):
    digest: str
    size: int
    modified: float  # when its index was published


class Index(NamedTuple):
    pack_size: int
    entries: dict[str, Located]


def encode_index(pack: str, pack_size: int, entries: Sequence[tuple[str, int, int]]) -> bytes:
    body = bytearray(_HEAD.pack(INDEX_MAGIC, pack_size))
    for digest, offset, size in entries:
        body += _ENTRY.pack(bytes.fromhex(digest), offset, size)
    return bytes(body) + blake3(body).digest()


def decode_index(pack: str, data: bytes) -> Index | None:
    """The index, or None when it is torn (short, or its checksum fails)."""
    if len(data) < _HEAD.size + _SUM or (len(data) - _HEAD.size - _SUM) % _ENTRY.size:
        return None
    body, checksum = data[:-_SUM], data[-_SUM:]
    if blake3(body).digest() != checksum:
        return None
    magic, pack_size = _HEAD.unpack_from(body)
    if magic != INDEX_MAGIC:
        return None
    entries: dict[str, Located] = {}
    for raw, offset, size in _ENTRY.iter_unpack(body[_HEAD.size :]):
        entries[raw.hex()] = Located(pack, offset, size)
    return Index(pack_size, entries)


class PackFolder:
    """The packs of one blob folder and their index, loaded into memory and refreshed
    when a blob is asked for that it does not know (another process may have written it)."""

    def __init__(self, root: Path, target: int = PACK_TARGET) -> None:
        self.root = root / "packs"
        self.target = target
        self._lock = threading.Lock()
        self._where: dict[str, Located] = {}  # digest -> where one loaded pack holds it
        self._indexes: dict[str, dict[str, Located]] = {}  # pack id -> its entries

    # ---- reading ---------------------------------------------------------------------

    def find(self, digest: str) -> Located | None:
        return self.find_many([digest]).get(digest)

    def find_many(self, digests: Iterable[str]) -> dict[str, Located]:
        """Where these blobs are, for those a pack holds; the folder is looked at again
        (once) when some are not known here (another process may have written them)."""
        wanted = list(dict.fromkeys(digests))
        with self._lock:
            found = {d: self._where[d] for d in wanted if d in self._where}
        if len(found) < len(wanted):
            self.refresh()
            with self._lock:
                found = {d: self._where[d] for d in wanted if d in self._where}
        return found

    def has(self, digests: Iterable[str]) -> set[str]:
        self.refresh()
        with self._lock:
            return {d for d in digests if d in self._where}

    def read(self, digest: str) -> bytes | None:
        """The blob's bytes (unverified), or None when no pack holds it. A pack removed
        under the reader (gc repacked it) is looked for again: its blobs' new pack was
        published before the old index went, so the folder names where they are now."""
        for _attempt in range(_READ_ATTEMPTS):
            found = self.find(digest)
            if found is None:
                return None
            try:
                return self._read_range(found.pack, found.offset, found.size)
            except FileNotFoundError:
                self.refresh()
        return None

    def read_many(self, digests: Sequence[str]) -> dict[str, bytes]:
        """The bytes of those of these blobs a pack holds, reading each run of adjacent
        blobs of one pack in a single read."""
        wanted = self.find_many(digests)
        order = sorted(wanted.items(), key=lambda item: (item[1].pack, item[1].offset))
        out: dict[str, bytes] = {}
        run: list[tuple[str, Located]] = []
        for digest, located in order:
            if run and (run[-1][1].pack != located.pack or _end(run[-1][1]) != located.offset):
                self._read_run(run, out)
                run = []
            run.append((digest, located))
        if run:
            self._read_run(run, out)
        return out

    def _read_run(self, run: list[tuple[str, Located]], out: dict[str, bytes]) -> None:
        first = run[0][1]
        try:
            data = self._read_range(first.pack, first.offset, _end(run[-1][1]) - first.offset)
        except FileNotFoundError:
            for digest, _ in run:
                if (one := self.read(digest)) is not None:
                    out[digest] = one
            return
        view = memoryview(data)
        for digest, located in run:
            start = located.offset - first.offset
            out[digest] = bytes(view[start : start + located.size])

    def _read_range(self, pack: str, offset: int, size: int) -> bytes:
        fd = os.open(self.root / f"{pack}.pack", os.O_RDONLY)
        try:
            return os.pread(fd, size, offset)
        finally:
            os.close(fd)

    def refresh(self) -> None:
        """Load the indexes published since the last look; forget those removed."""
        try:
            names = {e.name[:-4] for e in os.scandir(self.root) if e.name.endswith(".idx")}
        except FileNotFoundError:
            names = set()
        with self._lock:
            for gone in [p for p in self._indexes if p not in names]:
                self._drop(gone)
            fresh = [p for p in names if p not in self._indexes]
        for pack in fresh:
            index = self._load(pack)
            if index is None:
                continue
            with self._lock:
                if pack not in self._indexes:
                    self._indexes[pack] = index.entries
                    self._where.update(index.entries)

    def _drop(self, pack: str) -> None:
        """Forget a pack (the lock held). A blob it held that another loaded pack also
        holds (written twice by two processes, or repacked) is found there instead."""
        orphans = {
            d for d in self._indexes.pop(pack, {}) if (f := self._where.get(d)) and f.pack == pack
        }
        for digest in orphans:
            del self._where[digest]
        for entries in self._indexes.values():
            if not orphans:
                break
            for digest in orphans & entries.keys():
                self._where[digest] = entries[digest]
            orphans -= entries.keys()

    def _load(self, pack: str) -> Index | None:
        """The pack's index, or None when the index is torn or the pack is shorter than
        it says (truncated, or its writer was killed before the pack was renamed)."""
        try:
            index = decode_index(pack, (self.root / f"{pack}.idx").read_bytes())
            size = (self.root / f"{pack}.pack").stat().st_size
        except FileNotFoundError:
            return None
        if index is None or size < index.pack_size:
            return None
        return index

    def entries(self) -> Iterator[PackedBlob]:
        """Every packed blob, with when its pack's index was last written or touched (a
        blob stored again is kept recent, as a loose file's mtime is)."""
        self.refresh()
        with self._lock:
            items = list(self._where.items())
        touched: dict[str, float] = {}
        for digest, located in items:
            if located.pack not in touched:
                try:
                    touched[located.pack] = (self.root / f"{located.pack}.idx").stat().st_mtime
                except FileNotFoundError:  # removed by a gc meanwhile
                    touched[located.pack] = -1.0
            if touched[located.pack] >= 0:
                yield PackedBlob(digest, located.size, touched[located.pack])

    # ---- writing ---------------------------------------------------------------------

    def write(self, blobs: Iterable[tuple[str, bytes | memoryview]]) -> None:
        """Write these blobs (digest, bytes) into new packs, durable and indexed when this
        returns. Blobs a pack already holds are skipped, and that pack's index is touched
        so a gc does not take them for bytes nobody recorded."""
        items = list(blobs)
        self.refresh()  # a pack a gc removed meanwhile no longer counts as holding its blobs
        with self._lock:
            held = {d: self._where[d].pack for d, _ in items if d in self._where}
        again = set(held.values())
        batch: list[tuple[str, bytes | memoryview]] = []
        size = 0
        for digest, data in items:
            if digest in held:
                continue
            held[digest] = ""  # once per batch
            batch.append((digest, data))
            size += len(data)
            if size >= self.target:
                self._write_pack(batch)
                batch, size = [], 0
        if batch:
            self._write_pack(batch)
        for pack in again:
            with contextlib.suppress(FileNotFoundError):  # a gc removed it meanwhile
                os.utime(self.root / f"{pack}.idx")

    def _write_pack(self, batch: Sequence[tuple[str, bytes | memoryview]]) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        pack = uuid.uuid4().hex
        entries: list[tuple[str, int, int]] = []
        offset = len(PACK_MAGIC)
        for digest, data in batch:
            entries.append((digest, offset, len(data)))
            offset += len(data)
        self._publish(f"{pack}.pack", [PACK_MAGIC, *(data for _, data in batch)])
        self._publish(f"{pack}.idx", [encode_index(pack, offset, entries)])
        _fsync_folder(self.root)
        located = {digest: Located(pack, start, length) for digest, start, length in entries}
        with self._lock:
            self._indexes[pack] = located
            self._where.update(located)
        return pack

    def _publish(self, name: str, parts: Sequence[bytes | memoryview]) -> None:
        """Write ``name`` under a temp name, fsync it, then rename it into place."""
        tmp = self.root / f"{temp_prefix()}{uuid.uuid4().hex[:8]}-{name}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                for start in range(0, len(parts), _IOV_MAX):
                    _write_all(fd, parts[start : start + _IOV_MAX])
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.root / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # ---- garbage collection ------------------------------------------------------------

    def remove(self, dead: Iterable[str]) -> int:
        """Drop these blobs: a pack holding only dead blobs is deleted, one holding some
        is repacked (its live blobs into a new pack, published before the old one goes).
        Returns how many of them were held here."""
        self.refresh()
        doomed = set(dead)
        with self._lock:
            touched = {
                pack: list(entries)
                for pack, entries in self._indexes.items()
                if not doomed.isdisjoint(entries)
            }
        removed = 0
        for pack, digests in touched.items():
            live = [d for d in digests if d not in doomed]
            removed += len(digests) - len(live)
            kept = self.read_many(live)
            whole = [(d, kept[d]) for d in live if d in kept and of_bytes(kept[d]) == d]
            if whole:  # a damaged blob is not copied: it reads as missing, and is sent again
                self._write_pack(whole)
            self._delete_pack(pack)
        return removed

    def _delete_pack(self, pack: str) -> None:
        with self._lock:
            self._drop(pack)
        (self.root / f"{pack}.idx").unlink(missing_ok=True)  # unindexed first: never torn
        (self.root / f"{pack}.pack").unlink(missing_ok=True)
        _fsync_folder(self.root)

    def remove_torn(self, cutoff: float, stale: Callable[[os.DirEntry[str]], bool]) -> int:
        """Remove what killed writers left: temp files (``stale`` decides whose), and packs
        or indexes older than ``cutoff`` that were never published whole."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in os.scandir(self.root):
            name = entry.name
            if name.startswith(TEMP):
                if stale(entry):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
                continue
            pack = name.rsplit(".", 1)[0]
            if name.endswith((".pack", ".idx")) and self._load(pack) is None:
                try:
                    old = entry.stat().st_mtime < cutoff
                except FileNotFoundError:
                    continue
                if old:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed


_IOV_MAX = 1024  # buffers per writev(2) (Linux's IOV_MAX)
_READ_ATTEMPTS = 3  # a read whose pack a gc removed looks again this many times


def _write_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    """writev(2) these buffers, again from where it stopped when it writes fewer bytes."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first:])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


def _end(located: Located) -> int:
    return located.offset + located.size


def temp_prefix() -> str:
    host = socket.gethostname().replace("-", "_")
    return f"{TEMP}{host}-{os.getpid()}-"


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
