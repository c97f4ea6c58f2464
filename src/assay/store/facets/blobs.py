"""``store.blobs``: content-addressed bytes, named by their BLAKE3 digest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Blobs(Protocol):
    def put(self, data: bytes) -> str:
        """Store bytes under their BLAKE3 digest and return it."""

    def get(self, digest: str) -> bytes: ...

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many blobs (durable once this returns) and return their digests."""

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        """These blobs' bytes in order, each verified (one request to a server)."""

    def missing(self, digests: Sequence[str]) -> list[str]:
        """The digests among these that the store does not hold yet."""
