"""Moving artifact files to and from a store: parallel, resumable, verified.

Upload: split every file (see ``chunking``), ask the store which chunks it lacks, send
only those (in parallel, as ranges of the file: ``store.blobs.put_ranges``, while the
rest of the file is split), and return the manifest for the caller to commit. A file
that changed since its split fails the upload, naming it. An upload killed half-way
leaves stored chunks and no version; running it again sends only what is still
missing.

Download: fetch each file's chunks in parallel into a temporary file beside the target,
check the whole file's BLAKE3 digest, then rename. A damaged chunk or file is an error
naming the file; nothing unverified is ever left under the target name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from assay import digests
from assay.artifacts import chunking
from assay.artifacts.references import fetch_reference
from assay.errors import CorruptData, InvalidInput
from assay.progress import track
from assay.records import FileEntry, Manifest
from assay.store.base import Store
from assay.store.facets.blobs import FileRange
from assay.values import artifact_path

WORKERS = 8
ASK_BATCH = 10_000  # digests per missing-blobs question
SEND_BYTES = 16 << 20  # chunks sent (and made durable: one pack file) together, per task
FETCH_BYTES = 8 << 20  # chunks fetched together (one read of a pack, one request), per task


@dataclass(frozen=True)
class Source:
    """A local file to store under ``path`` inside the artifact."""

    path: str
    local: Path


# ---- upload --------------------------------------------------------------------------------


def upload(
    store: Store,
    sources: Sequence[Source],
    references: Sequence[FileEntry] = (),
    progress: bool | None = None,
) -> Manifest:
    total = sum(s.local.stat().st_size for s in sources)
    with track("upload", total, "bytes", progress) as advance, ThreadPoolExecutor(WORKERS) as pool:
        sending = _Sending(store, pool, advance)
        files = []
        for source in sources:
            split = chunking.split(source.local, partial(sending.offer, source.local))
            files.append(_entry(source.path, split))
        sending.finish()
    return Manifest(files=files + list(references))


class _Sending:
    """Pieces handed over as the files are split: each lot asked about once it holds
    ``SEND_BYTES`` or ``ASK_BATCH`` pieces, its missing ones stored in groups of about
    ``SEND_BYTES`` on the pool while the splitting goes on."""

    def __init__(
        self, store: Store, pool: ThreadPoolExecutor, advance: Callable[[int], None]
    ) -> None:
        self.store, self.pool, self.advance = store, pool, advance
        self.seen: set[str] = set()  # digests asked about already (a file repeating itself)
        self.lot: dict[str, FileRange] = {}
        self.lot_bytes = 0
        self.jobs: list[Future[int]] = []

    def offer(self, local: Path, pieces: list[chunking.Piece]) -> None:
        skipped = 0
        for piece in pieces:
            if piece.digest in self.seen or piece.digest in self.lot:
                skipped += piece.size
                continue
            self.lot[piece.digest] = FileRange(
                path=local, offset=piece.offset, size=piece.size, digest=piece.digest
            )
            self.lot_bytes += piece.size
        self.advance(skipped)
        if self.lot_bytes >= SEND_BYTES or len(self.lot) >= ASK_BATCH:
            self._flush()
        self._collect(wait=False)

    def finish(self) -> None:
        self._flush()
        self._collect(wait=True)

    def _flush(self) -> None:
        if not self.lot:
            return
        lot, self.lot, self.lot_bytes = self.lot, {}, 0
        self.seen.update(lot)
        missing = self.store.blobs.missing(list(lot))
        self.advance(sum(lot[d].size for d in lot) - sum(lot[d].size for d in missing))
        for group in _groups([lot[d] for d in missing]):
            self.jobs.append(self.pool.submit(_send, self.store, group))

    def _collect(self, wait: bool) -> None:
        """Advance the bar by the groups stored; the first failure is raised (and the
        groups not started yet are cancelled)."""
        if wait:
            done = list(_as_done(self.jobs))
            self.jobs = []
        else:
            done = [job for job in self.jobs if job.done()]
            self.jobs = [job for job in self.jobs if not job.done()]
            if any(job.exception() is not None for job in done):
                for job in self.jobs:
                    job.cancel()
        for job in done:
            self.advance(job.result())


def _groups(ranges: list[FileRange]) -> Iterator[list[FileRange]]:
    """The ranges in groups of about SEND_BYTES each (as many as fit, evenly: no small
    group left at the end, which would be a pack and an fsync of its own)."""
    total = sum(item.size for item in ranges)
    target = total / max(1, total // SEND_BYTES)
    group: list[FileRange] = []
    size = 0
    for item in ranges:
        group.append(item)
        size += item.size
        if size >= target:
            yield group
            group, size = [], 0
    if group:
        yield group


def _send(store: Store, group: list[FileRange]) -> int:
    """Store a group of pieces from their files (checked against their digests: a file
    that changed since it was split fails, naming it, and stores none of them)."""
    store.blobs.put_ranges(group)
    return sum(item.size for item in group)


def _entry(path: str, split: chunking.Split) -> FileEntry:
    chunks = [(p.digest, p.size) for p in split.pieces] if split.chunked else None
    return FileEntry(path=path, size=split.size, digest=split.digest, chunks=chunks)


def _as_done(jobs: list[Future[Any]]) -> Iterator[Future[Any]]:
    """Futures as they finish; the first failure cancels what has not started."""
    from concurrent.futures import FIRST_EXCEPTION, wait

    pending = set(jobs)
    while pending:
        done, pending = wait(pending, return_when=FIRST_EXCEPTION)
        for job in done:
            if job.exception() is not None:
                for other in pending:
                    other.cancel()
            yield job


# ---- download ------------------------------------------------------------------------------


def target_of(root: Path, path: str) -> Path:
    """Where ``path`` lands under ``root``; refuses anything that would escape it."""
    clean = artifact_path(path)
    target = (root / clean).resolve()
    if not target.is_relative_to(root.resolve()):
        raise InvalidInput(f"artifact path {path!r} escapes the download folder {root}")
    return target


def download(
    store: Store, manifest: Manifest, root: Path, progress: bool | None = None
) -> list[Path]:
    """Every file of the manifest under ``root``; files already there with the right
    digest are kept (so an interrupted download resumes)."""
    root.mkdir(parents=True, exist_ok=True)
    todo = [(f, target_of(root, f.path)) for f in manifest.files]
    stale = [(f, t) for f, t in todo if not _matches(t, f)]
    total = sum(f.size for f, _ in stale)
    with (
        track("download", total, "bytes", progress) as advance,
        ThreadPoolExecutor(WORKERS) as pool,
    ):
        for entry, target in stale:
            if entry.ref is not None:
                _place(target, entry, partial(fetch_reference, entry))
                advance(entry.size)
            else:
                _place(target, entry, partial(_assemble, store, entry, pool, advance))
    return [t for _, t in todo]


def _matches(target: Path, entry: FileEntry) -> bool:
    try:
        if target.stat().st_size != entry.size:
            return False
    except FileNotFoundError:
        return False
    return entry.ref is None and digests.of_file(target) == entry.digest


def _place(target: Path, entry: FileEntry, fill: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".assay-tmp-")
    os.close(fd)
    tmp = Path(name)
    try:
        fill(tmp)
        if entry.ref is None and digests.of_file(tmp) != entry.digest:
            raise CorruptData(f"{entry.path}: the downloaded file does not match its digest")
        os.replace(tmp, target)
    except CorruptData as exc:
        raise CorruptData(_name_file(entry.path, exc)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _name_file(path: str, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith(f"{path}:") else f"{path}: {text}"


def _assemble(
    store: Store,
    entry: FileEntry,
    pool: ThreadPoolExecutor,
    advance: Callable[[int], None],
    tmp: Path,
) -> None:
    chunks = entry.chunks or [(entry.digest, entry.size)]
    with open(tmp, "r+b") as f:
        f.truncate(entry.size)
        fd = f.fileno()
        jobs, offset, group, size = [], 0, [], 0
        for digest, length in chunks:
            group.append((digest, length, offset))
            offset += length
            size += length
            if size >= FETCH_BYTES:
                jobs.append(pool.submit(_fetch_into, store, fd, group))
                group, size = [], 0
        if group:
            jobs.append(pool.submit(_fetch_into, store, fd, group))
        for job in _as_done(jobs):
            advance(job.result())


def _fetch_into(store: Store, fd: int, group: list[tuple[str, int, int]]) -> int:
    """Fetch a run of chunks (digest, size, offset in the file) in one call and write
    each in place; the store verifies each against its digest."""
    datas = store.blobs.get_many(list(dict.fromkeys(d for d, _, _ in group)))
    found = dict(zip(dict.fromkeys(d for d, _, _ in group), datas, strict=True))
    for digest, size, offset in group:
        data = found[digest]
        if len(data) != size:
            raise CorruptData(f"blob {digest} has {len(data)} bytes, not {size}")
        os.pwrite(fd, data, offset)
    return sum(size for _, size, _ in group)
