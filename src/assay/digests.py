"""BLAKE3 digests, as lowercase hex: of bytes, of files, and of values in a canonical
encoding (deterministic msgpack), so that every layer names content the same way."""

from __future__ import annotations

from typing import Any

import msgspec
from blake3 import blake3


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


def of_bytes(data: bytes | memoryview) -> str:
    return str(blake3(data).hexdigest())


def of_value(value: Any) -> str:
    """The digest of ``canonical(value)``."""
    return of_bytes(canonical(value))
