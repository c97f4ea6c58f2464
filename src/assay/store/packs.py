"""Pack files: many blobs in one append-only file, found through an index file written
after the pack is durable (as restic and git do), so a GiB is about a hundred files and
fsyncs rather than tens of thousands.

Under ``<blob folder>/packs/``:

- ``<id>.pack``: ``ASSAYPK1`` then the blobs' bytes back to back;
- ``<id>.idx``: ``ASSAYIX1``, the pack's length (u64), one entry per blob (digest,
  offset, length), then the BLAKE3 digest of everything before it.

A pack is written under a temp name, fsynced, renamed; then its index likewise; then the
folder is fsynced. A pack of ranges of local files (``copy``) is filled by the kernel
(``copy_file_range``) and every blob hashed back from it before it is renamed, so a file
that changed since it was split publishes nothing. The index is the commit point: a pack
without one (a writer killed mid-pack), an index whose checksum fails (torn), or a pack
shorter than its index says (truncated) is ignored, so its blobs read as not stored and
are sent again. Every read is still checked against the blob's digest by the caller.

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
import errno
import mmap
import os
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

from blake3 import blake3

from assay.digests import of_bytes
from assay.errors import InvalidInput
from assay.store.facets.blobs import FileRange

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
        batches, again = self._plan(list(blobs), len)
        for batch in batches:
            self._write_pack(batch)
        self._touch(again)

    def copy(self, sources: Mapping[Path, int], ranges: Sequence[FileRange]) -> None:
        """Store these ranges of open files (``sources``: path -> descriptor) as ``write``
        stores bytes, without passing them through this process: the kernel copies each
        run of adjacent ranges into the pack (``copy_file_range``; read and written
        where the files do not allow it), then every blob is hashed back from the pack
        (from the page cache) before anything is published. A range whose bytes no
        longer match its digest (the file changed since it was split) raises
        InvalidInput naming the file, and none of these packs is published."""
        batches, again = self._plan([(r.digest, r) for r in ranges], _size)
        filled: list[_Filled] = []
        try:
            for batch in batches:
                filled.append(self._fill(sources, [r for _, r in batch]))
            while filled:
                self._publish_filled(filled[0])
                filled.pop(0)
        finally:
            for left in filled:
                left.tmp.unlink(missing_ok=True)
        self._touch(again)

    def _plan(
        self, items: Sequence[tuple[str, _T]], size_of: Callable[[_T], int]
    ) -> tuple[list[list[tuple[str, _T]]], set[str]]:
        """The blobs no pack holds yet, once each, in batches of about ``target``
        bytes; and the packs that hold the others (to be touched)."""
        self.refresh()  # a pack a gc removed meanwhile no longer counts as holding its blobs
        with self._lock:
            held = {d: self._where[d].pack for d, _ in items if d in self._where}
        again = set(held.values())
        batches: list[list[tuple[str, _T]]] = []
        batch: list[tuple[str, _T]] = []
        size = 0
        for digest, item in items:
            if digest in held:
                continue
            held[digest] = ""  # once per batch
            batch.append((digest, item))
            size += size_of(item)
            if size >= self.target:
                batches.append(batch)
                batch, size = [], 0
        if batch:
            batches.append(batch)
        return batches, again

    def _touch(self, packs: Iterable[str]) -> None:
        for pack in packs:
            with contextlib.suppress(FileNotFoundError):  # a gc removed it meanwhile
                os.utime(self.root / f"{pack}.idx")

    def _fill(self, sources: Mapping[Path, int], batch: Sequence[FileRange]) -> _Filled:
        """A pack under a temp name holding these ranges, checked and fsynced."""
        self.root.mkdir(parents=True, exist_ok=True)
        pack = uuid.uuid4().hex
        tmp = self.root / f"{temp_prefix()}{uuid.uuid4().hex[:8]}-{pack}.pack"
        entries: list[tuple[str, int, int]] = []
        offset = len(PACK_MAGIC)
        for item in batch:
            entries.append((item.digest, offset, item.size))
            offset += item.size
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _write_all(fd, [PACK_MAGIC])
                for path, start, at, length in _runs(batch, len(PACK_MAGIC)):
                    if not _copy_range(sources[path], fd, start, at, length):
                        raise source_changed(path)  # shorter than when it was split
                bad = _mismatch(fd, offset, batch, entries)
                if bad is not None:
                    raise source_changed(bad)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return _Filled(tmp=tmp, pack=pack, size=offset, entries=entries)

    def _publish_filled(self, filled: _Filled) -> None:
        pack = filled.pack
        os.replace(filled.tmp, self.root / f"{pack}.pack")
        self._publish(f"{pack}.idx", [encode_index(pack, filled.size, filled.entries)])
        _fsync_folder(self.root)
        located = {d: Located(pack, start, length) for d, start, length in filled.entries}
        with self._lock:
            self._indexes[pack] = located
            self._where.update(located)

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
_T = TypeVar("_T")
# copy_file_range(2) refuses files it cannot copy between with these (another file
# system on older kernels, one that does not implement it, a special file); the range
# is then read and written instead, as shutil does.
_NO_KERNEL_COPY = {
    errno.EXDEV,
    errno.ENOSYS,
    errno.EINVAL,
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.ETXTBSY,
    errno.EPERM,
}
_COPY_BLOCK = 8 << 20  # bytes per read when the kernel cannot copy


class _Filled(NamedTuple):
    tmp: Path  # the pack under its temp name, fsynced
    pack: str
    size: int
    entries: list[tuple[str, int, int]]


def _size(item: FileRange) -> int:
    return item.size


def _runs(batch: Sequence[FileRange], at: int) -> Iterator[tuple[Path, int, int, int]]:
    """The batch as runs of adjacent ranges of one file (path, offset in the file, offset
    in the pack, length): a new file's chunks are one run per pack."""
    run: list[int] | None = None
    path: Path | None = None
    for item in batch:
        if run is not None and item.path == path and run[0] + run[2] == item.offset:
            run[2] += item.size
        else:
            if run is not None and path is not None:
                yield path, run[0], run[1], run[2]
            path, run = item.path, [item.offset, at, item.size]
        at += item.size
    if run is not None and path is not None:
        yield path, run[0], run[1], run[2]


def _copy_range(src: int, dst: int, start: int, at: int, length: int) -> bool:
    """Copy ``length`` bytes of ``src`` from ``start`` into ``dst`` at ``at``: in the
    kernel when it can, else read and written. False when ``src`` ends first."""
    copy = getattr(os, "copy_file_range", None)  # Linux only
    while copy is not None and length:
        try:
            done = copy(src, dst, length, start, at)
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
            break
        if not done:
            break  # the end of the file, or a file system that copies nothing: read it
        start, at, length = start + done, at + done, length - done
    while length:
        data = os.pread(src, min(length, _COPY_BLOCK), start)
        if not data:
            return False
        _write_all_at(dst, data, at)
        start, at, length = start + len(data), at + len(data), length - len(data)
    return True


def _write_all_at(fd: int, data: bytes, at: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, at)
        view, at = view[written:], at + written


def _mismatch(
    fd: int, size: int, batch: Sequence[FileRange], entries: Sequence[tuple[str, int, int]]
) -> Path | None:
    """The file of the first blob whose bytes in the pack do not hash to its digest."""
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            for item, (digest, start, length) in zip(batch, entries, strict=True):
                if of_bytes(view[start : start + length]) != digest:
                    return item.path
        finally:
            view.release()
    return None


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


def source_changed(path: Path) -> InvalidInput:
    return InvalidInput(f"{path} changed while it was being stored; log it again")


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
