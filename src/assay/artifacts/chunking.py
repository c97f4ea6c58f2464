"""How a file becomes blobs: small files whole, larger ones split by content-defined
chunking (FastCDC, from the ``fastcdc`` package), so that an edit moves only the chunk
boundaries near it and a new version of a large file stores only the chunks it changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assay import digests

SMALL_FILE = 1 << 20  # files up to 1 MiB are one blob
# An edit dirties the chunks it touches, about one and a half average chunks per edited
# place: 16 KiB keeps 1% of a 1 GiB file rewritten in 1,000 places near 3% new bytes
# (64 KiB would store 9%; see bench/RESULTS.md).
MIN_CHUNK = 4 << 10
AVG_CHUNK = 16 << 10
MAX_CHUNK = 64 << 10
PART = 32 << 20  # bytes of a file split before its pieces so far are handed on (``split``)


@dataclass(frozen=True)
class Piece:
    digest: str
    offset: int
    size: int


@dataclass(frozen=True)
class Split:
    """A file as its whole-content digest and the pieces it is stored as."""

    digest: str
    size: int
    pieces: list[Piece]

    @property
    def chunked(self) -> bool:
        return len(self.pieces) != 1 or self.pieces[0].digest != self.digest


def split(path: Path, part: Callable[[list[Piece]], None] | None = None) -> Split:
    """The file's digest and pieces; ``part``, if given, is handed the pieces as they
    are found, about ``PART`` bytes at a time, so they can be stored while the rest of
    the file is split."""
    with digests.mapped(path) as view:
        return split_bytes(view, part)


def split_bytes(
    view: memoryview | bytes, part: Callable[[list[Piece]], None] | None = None
) -> Split:
    size = len(view)
    digest = digests.of_bytes(view)  # on several threads above 1 MiB
    if size <= SMALL_FILE:
        pieces = [Piece(digest, 0, size)]
        if part is not None:
            part(pieces)
        return Split(digest, size, pieces)
    from fastcdc import fastcdc

    pieces = []
    handed, end = 0, PART
    for c in fastcdc(view, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK):
        pieces.append(
            Piece(digests.of_bytes(view[c.offset : c.offset + c.length]), c.offset, c.length)
        )
        if part is not None and c.offset + c.length >= end:
            part(pieces[handed:])
            handed, end = len(pieces), c.offset + c.length + PART
    if part is not None and handed < len(pieces):
        part(pieces[handed:])
    return Split(digest, size, pieces)
