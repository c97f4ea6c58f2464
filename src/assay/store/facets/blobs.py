"""``store.blobs``: content-addressed bytes, named by their BLAKE3 digest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol


class FileRange(NamedTuple):
    """A blob to store from a local file: ``size`` bytes at ``offset`` of ``path``, which
    held the bytes named by ``digest`` when the file was split."""

    path: Path
    offset: int
    size: int
    digest: str


class Blobs(Protocol):
    def put(self, data: bytes) -> str:
        """Store bytes under their BLAKE3 digest and return it."""

    def get(self, digest: str) -> bytes: ...

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many blobs (durable once this returns) and return their digests."""

    def put_ranges(self, ranges: Sequence[FileRange]) -> None:
        """Store many blobs from ranges of local files, as ``put_many`` would their bytes
        (``assay.store.blobs.read_ranges`` then ``put_many`` is the plain way; a folder copies
        them in the kernel). A range whose bytes no longer match its digest (the file
        changed since it was split) raises InvalidInput naming the file, and none of
        these blobs is stored."""

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        """These blobs' bytes in order, each verified (one request to a server)."""

    def missing(self, digests: Sequence[str]) -> list[str]:
        """The digests among these that the store does not hold yet."""
