"""``store.blobs`` on SQL: bytes in the blob folder or bucket (``storage``), each recorded
in the ``blobs`` table once durable; gc of the blobs nothing holds."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from assay.store.blobs import BlobStore, LocalBlobStore
from assay.store.facets.blobs import FileRange
from assay.store.sql import catalog
from assay.store.sql.tx import Database

GC_GRACE = 3600.0  # seconds a stored blob is safe from gc before any manifest names it


class GcReport(NamedTuple):
    dry_run: bool
    blobs: int  # removed, or that would be removed in a dry run
    bytes: int
    kept: int


class SqlBlobs:
    def __init__(self, db: Database, storage: BlobStore) -> None:
        self.db = db
        self.storage = storage  # the bytes themselves: a folder or an object store

    def put(self, data: bytes) -> str:
        self.db.writable("store a blob")
        digest = self.storage.put(data)  # the bytes first: a recorded blob is always there
        with self.db.write() as tx:
            catalog.record_blob(tx, digest, len(data))
        return digest

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Many blobs at once: bytes written and made durable together (pack files in a
        folder), then recorded in one transaction: a recorded blob is always there."""
        self.db.writable("store blobs")
        digests = self.storage.put_many(blobs)
        with self.db.write() as tx:
            catalog.record_blobs(tx, [(d, len(b)) for d, b in zip(digests, blobs, strict=True)])
        return digests

    def put_ranges(self, ranges: Sequence[FileRange]) -> None:
        """Many blobs from ranges of local files (copied by the kernel into pack files
        in a folder), checked against their digests, then recorded in one transaction."""
        self.db.writable("store blobs")
        self.storage.put_ranges(ranges)
        with self.db.write() as tx:
            catalog.record_blobs(tx, [(r.digest, r.size) for r in ranges])

    def get(self, digest: str) -> bytes:
        return self.storage.get(digest)

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        return self.storage.get_many(digests)

    def missing(self, digests: Sequence[str]) -> list[str]:
        """Digests with no row, and (in a folder) recorded ones whose bytes are gone: a
        pack found torn or truncated is ignored, so its blobs are sent again."""
        with self.db.read() as conn:
            missing = catalog.missing_blobs(conn, digests)
        if not isinstance(self.storage, LocalBlobStore):
            return missing
        absent = set(missing)
        recorded = [d for d in dict.fromkeys(digests) if d not in absent]
        held = self.storage.held(recorded)
        lost = {d for d in recorded if d not in held}
        return [d for d in dict.fromkeys(digests) if d in absent or d in lost]

    def collect_garbage(self, grace: float = GC_GRACE, dry_run: bool = True) -> GcReport:
        """Remove blobs that no artifact version or run holds and that were stored more
        than ``grace`` seconds ago (so uploads still on their way to a commit are safe).
        Each batch's rows are locked while its bytes are deleted: a concurrent commit
        naming one of them waits, then fails with Conflict and re-uploads."""
        cutoff = time.time() - grace
        with self.db.read() as conn:
            unheld = catalog.unheld_blobs(conn, cutoff)
            known = catalog.known_blobs(conn)
        listed = {b.digest: b for b in self.storage.list()}
        # Bytes with no row: an upload that died between writing them and recording them.
        strays = [d for d, b in listed.items() if d not in known and b.modified < cutoff]
        doomed = [d for d in unheld if d in listed] + strays
        size = sum(listed[d].size for d in doomed)
        if dry_run:
            return GcReport(True, len(doomed), size, len(listed) - len(doomed))
        removed = self._forget(unheld, cutoff) + self._remove_strays(strays)
        return GcReport(False, removed, size, len(listed) - removed)

    def _forget(self, unheld: list[str], cutoff: float) -> int:
        removed = 0
        for start in range(0, len(unheld), catalog.IN_CHUNK):
            with self.db.write() as tx:
                part = unheld[start : start + catalog.IN_CHUNK]
                gone = catalog.forget_blobs(tx.conn, part, cutoff)
                self.storage.delete_many(gone)
                removed += len(gone)
        return removed

    def _remove_strays(self, strays: list[str]) -> int:
        removed = 0
        for start in range(0, len(strays), catalog.IN_CHUNK):
            with self.db.write() as tx:  # the write lock keeps a concurrent record_blob out
                part = strays[start : start + catalog.IN_CHUNK]
                gone = catalog.missing_blobs(tx.conn, part)
                self.storage.delete_many(gone)
                removed += len(gone)
        return removed
