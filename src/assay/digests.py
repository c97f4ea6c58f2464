"""BLAKE3 digests, as lowercase hex: of bytes, of files (memory-mapped, hashed on every
core), and of values in a canonical encoding (deterministic msgpack), so that every layer
names content the same way. Artifacts, chunks, evaluation items and code are named by
these digests."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from blake3 import blake3

PARALLEL_ABOVE = 1 << 20  # bytes: larger inputs are hashed on several threads


def of_bytes(data: bytes | memoryview) -> str:
    """The digest of ``data``; inputs over 1 MiB are hashed on several threads (the digest is
    the same either way)."""
    threads = blake3.AUTO if len(data) > PARALLEL_ABOVE else 1
    return str(blake3(data, max_threads=threads).hexdigest())


@contextmanager
def mapped(path: Path) -> Iterator[memoryview]:
    """The file's bytes, memory-mapped (an empty view for an empty file)."""
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            yield memoryview(b"")
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                yield view
            finally:
                view.release()


def of_file(path: Path) -> str:
    """The digest of a file's content, memory-mapped and hashed on every core."""
    hasher = blake3(max_threads=blake3.AUTO)
    with mapped(path) as view:
        hasher.update(view)
    return str(hasher.hexdigest())


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (for JSON, msgpack and digests)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not serialisable")


_encoder = msgspec.msgpack.Encoder(enc_hook=_plain, order="deterministic")


def canonical(value: Any) -> bytes:
    """Deterministic msgpack; numpy values become Python ones, anything else its repr."""
    try:
        return _encoder.encode(value)
    except (TypeError, OverflowError):
        return _encoder.encode(repr(value))


def of_value(value: Any) -> str:
    """The digest of ``canonical(value)``."""
    return of_bytes(canonical(value))
