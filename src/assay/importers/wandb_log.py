"""Reading W&B's run files (``run-<id>.wandb``): the record log the W&B SDK writes offline.

The format is LevelDB's log (32 KiB blocks of checksummed records, a record split
across blocks as FIRST/MIDDLE/LAST pieces) behind a 7-byte header (``:W&B``, magic
0xBEE1, a version byte), each record a ``Record`` protocol buffer of the W&B SDK
(``wandb.proto.wandb_internal_pb2``). The SDK read these files in Python up to 0.17;
its newer reader lives in its Go core, with no Python API, so the framing (40 lines) is
read here and the records are decoded with the SDK's own protocol buffers.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay.errors import CorruptData
from assay.extras import need

HEADER = struct.Struct("<4sHB")  # ident, magic, version
PIECE = struct.Struct("<IHB")  # checksum, length, type
BLOCK = 32768
IDENT, MAGIC = b":W&B", 0xBEE1
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# each piece's checksum is CRC-32 (zlib's) of its data, seeded with the type byte's CRC
_SEED = {kind: zlib.crc32(bytes([kind])) for kind in (FULL, FIRST, MIDDLE, LAST)}


def records(path: Path) -> Iterator[Any]:
    """Every record of the file as a W&B ``Record`` message, in order; CorruptData naming
    the offset at the first damaged or truncated piece."""
    need("wandb", "wandb")
    from wandb.proto import wandb_internal_pb2

    for offset, payload in _payloads(path.read_bytes(), path.name):
        record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]  # generated, untyped
        try:
            record.ParseFromString(payload)
        except Exception as exc:  # protobuf's DecodeError, translated here
            raise CorruptData(f"{path.name} at byte {offset}: not a W&B record ({exc})") from None
        yield record


def _payloads(data: bytes, name: str) -> Iterator[tuple[int, bytes]]:
    if len(data) < HEADER.size:
        raise CorruptData(f"{name} is too short to be a W&B run file")
    ident, magic, _version = HEADER.unpack_from(data)
    if ident != IDENT or magic != MAGIC:
        raise CorruptData(f"{name} is not a W&B run file (no :W&B header)")
    pos, pending, start = HEADER.size, bytearray(), -1
    while pos < len(data):
        left = BLOCK - pos % BLOCK
        if left < PIECE.size:  # a block's trailer: zeros
            pos += left
            continue
        if pos + PIECE.size > len(data):
            raise CorruptData(f"{name} ends inside a record header at byte {pos}")
        checksum, length, kind = PIECE.unpack_from(data, pos)
        if kind == 0 and length == 0:  # preallocated, never written: the block's end
            pos += left
            continue
        payload = data[pos + PIECE.size : pos + PIECE.size + length]
        if len(payload) < length or kind not in _SEED:
            raise CorruptData(f"{name} has a truncated or unknown record at byte {pos}")
        if zlib.crc32(payload, _SEED[kind]) != checksum:
            raise CorruptData(f"{name} has a damaged record at byte {pos} (checksum)")
        if kind == FULL:
            yield pos, payload
        elif kind == FIRST:
            pending, start = bytearray(payload), pos
        elif kind == MIDDLE:
            pending += payload
        else:
            yield start, bytes(pending + payload)
            pending = bytearray()
        pos += PIECE.size + length
