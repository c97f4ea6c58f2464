"""The run journal: an append-only file of length-prefixed, checksummed batches.

Record layout: ``<u32 payload length><u32 crc32 of payload><msgpack Batch>``, little
endian. A writer holds an exclusive ``flock`` on its journal for as long as it lives, so
``assay sync`` can tell a live writer's journal from one a dead process left.

Beside ``<writer>.jnl`` lies ``<writer>.acked``: the highest sequence number the store
has accepted. It is only a hint: delivery is idempotent, so replaying more is harmless.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from assay.errors import AssayError, JournalCorrupt
from assay.records import Batch

HEADER = struct.Struct("<II")
MAX_RECORD = 512 * 1024 * 1024
SUFFIX = ".jnl"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Batch)


class JournalWarning(UserWarning):
    """A journal had a damaged or cut-off tail; the records before it were kept."""


class JournalLocked(AssayError):
    """Another live process is writing this journal."""


def encode_record(batch: Batch) -> bytes:
    payload = _encoder.encode(batch)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class JournalWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise JournalLocked(f"journal {path} is held by another process") from None

    def append(self, batch: Batch, sync: bool = True) -> None:
        record = encode_record(batch)
        written = os.write(self._fd, record)
        while written < len(record):
            written += os.write(self._fd, record[written:])
        if sync:
            os.fdatasync(self._fd)

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def read_journal(path: Path, after: int = -1) -> Iterator[Batch]:
    """Yield the journal's batches with ``seq > after``, in order.

    A record cut short or failing its checksum ends the read with a JournalWarning: a
    crash mid-append leaves such a tail, and everything before it is intact.
    """
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        try:
            batch, offset = _decode_at(data, offset)
        except JournalCorrupt as exc:
            warnings.warn(f"{path}: {exc}; later bytes skipped", JournalWarning, stacklevel=2)
            return
        if batch.seq > after:
            yield batch


def _decode_at(data: bytes, offset: int) -> tuple[Batch, int]:
    if len(data) - offset < HEADER.size:
        raise JournalCorrupt(f"record header cut short at byte {offset}")
    length, crc = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    if length > MAX_RECORD or start + length > len(data):
        raise JournalCorrupt(f"record at byte {offset} is cut short or impossibly long")
    payload = data[start : start + length]
    if zlib.crc32(payload) != crc:
        raise JournalCorrupt(f"record at byte {offset} fails its checksum")
    try:
        return _decoder.decode(payload), start + length
    except msgspec.DecodeError as exc:
        raise JournalCorrupt(f"record at byte {offset} does not decode: {exc}") from None


def dead_letter(journal: Path, batch: Batch) -> Path:
    """Keep a batch the store refused, in the journal format, beside the journal."""
    target = journal.with_suffix(".rejected")
    with open(target, "ab") as f:
        f.write(encode_record(batch))
        f.flush()
        os.fsync(f.fileno())
    return target


def acked_path(journal: Path) -> Path:
    return journal.with_suffix(".acked")


def read_acked(journal: Path) -> int:
    try:
        return int(acked_path(journal).read_text().strip() or -1)
    except (FileNotFoundError, ValueError):
        return -1


def write_acked(journal: Path, seq: int) -> None:
    """Record the delivered mark atomically (temp file, then rename)."""
    target = acked_path(journal)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".acked-")
    with os.fdopen(fd, "w") as f:
        f.write(str(seq))
    os.replace(tmp, target)


def is_locked(journal: Path) -> bool:
    """True if a live process holds the journal's lock."""
    try:
        fd = os.open(journal, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def remove(journal: Path) -> None:
    journal.unlink(missing_ok=True)
    acked_path(journal).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        journal.parent.rmdir()  # the run's folder, once its last journal is gone


def journals_under(root: Path) -> list[Path]:
    """Every journal below a folder (or the file itself), oldest run first."""
    if root.is_file():
        return [root]
    return sorted(root.rglob(f"*{SUFFIX}"))
