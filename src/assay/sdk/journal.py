"""The journal: an append-only file of length-prefixed, checksummed batches.

Record layout: ``<u32 payload length><u32 crc32 of payload><msgpack batch>``, little
endian. A run's journal holds ``Batch`` records; a model server's request log holds
``RequestBatch`` records (sdk/requestlog.py) in journals of their own, with the same
format, locking, acked mark and dead-letter file. A writer holds an exclusive ``flock``
on its journal for as long as it lives, so ``assay sync`` can tell a live writer's
journal from one a dead process left.

Beside ``<writer>.jnl`` lie ``<writer>.acked``, the highest sequence number the store
has accepted (only a hint: delivery is idempotent, so replaying more is harmless), and
``<writer>.meta``, the store the journal is meant for (``assay sync`` delivers it there).
Journals and everything beside them are readable by their owner only (files 0600,
folders 0700): they hold the run's data and, in the meta file, the store's URI.

An append that fails (a full disk) is cut back to the last whole record, so the next
append lands on a clean end; a reader that meets a damaged record anyway skips to the
next whole one and warns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from assay.errors import AssayError, JournalCorrupt
from assay.records import Batch, RequestBatch

HEADER = struct.Struct("<II")
MAX_RECORD = 512 * 1024 * 1024
SUFFIX = ".jnl"
FILE_MODE = 0o600
DIR_MODE = 0o700

_encoder = msgspec.msgpack.Encoder()
Record = Batch | RequestBatch
R = TypeVar("R", Batch, RequestBatch)


class _Kind:
    """How one kind of batch is read back: its decoder, and the bytes every record of it
    starts with (a fixmap header and its first field's name), to find the next record
    after a damaged one."""

    def __init__(self, kind: type[Record]) -> None:
        fields = kind.__struct_fields__
        self.decoder = msgspec.msgpack.Decoder(kind)
        self.start = bytes([0x80 | len(fields)]) + _encoder.encode(fields[0])


_KINDS = {Batch: _Kind(Batch), RequestBatch: _Kind(RequestBatch)}


class JournalWarning(UserWarning):
    """A journal had a damaged or cut-off tail; the records before it were kept."""


class JournalLocked(AssayError):
    """Another live process is writing this journal."""


def encode_record(batch: Record) -> bytes:
    payload = _encoder.encode(batch)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class RecordEncoder:
    """Batches encoded as records into one buffer kept from call to call (msgspec's
    ``encode_into``). ``encode_record`` makes a new bytes object of the payload and then
    a second one with the header in front: for a request log, which encodes megabytes
    every cycle, two allocations and copies of all of it that this writer does not make."""

    def __init__(self) -> None:
        self.buffer = bytearray()  # the last record encoded: header and payload

    def size(self, batch: Record) -> int:
        """Encode ``batch`` (raising as msgspec does for a value it cannot encode) and
        return the length its record has; the header is left unwritten."""
        _encoder.encode_into(batch, self.buffer, HEADER.size)
        return len(self.buffer)

    def encode(self, batch: Record) -> bytearray:
        """``batch`` as a whole record, in ``buffer`` (valid until the next call)."""
        self.size(batch)
        with memoryview(self.buffer) as whole, whole[HEADER.size :] as payload:
            crc = zlib.crc32(payload)
        HEADER.pack_into(self.buffer, 0, len(self.buffer) - HEADER.size, crc)
        return self.buffer


def make_dirs(folder: Path) -> None:
    """Create ``folder`` (and missing parents) readable by the owner only; a run's own
    folder is narrowed to 0700 even if it existed."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):
            part.mkdir(mode=DIR_MODE)
    if folder.stat().st_mode & 0o077:
        with contextlib.suppress(PermissionError):  # not ours to narrow: leave it be
            os.chmod(folder, DIR_MODE)


class JournalWriter:
    def __init__(self, path: Path) -> None:
        make_dirs(path.parent)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise JournalLocked(f"journal {path} is held by another process") from None
        os.fchmod(self._fd, FILE_MODE)
        self._size = os.fstat(self._fd).st_size  # the end of the last whole record
        self._torn = False  # a failed append may have left part of a record
        self._encoder = RecordEncoder()

    def append(self, batch: Record, sync: bool = True) -> None:
        self.append_record(self._encoder.encode(batch), sync)

    def append_record(self, record: bytes | bytearray, sync: bool = True) -> None:
        """Append one encoded record, or raise OSError (a full disk) having cut the file
        back to its last whole record, so that a later append leaves it readable."""
        if self._torn:
            self._cut_back()
        try:
            written = os.write(self._fd, record)
            while written < len(record):
                written += os.write(self._fd, record[written:])
            if sync:
                os.fdatasync(self._fd)
        except OSError:
            self._torn = True
            with contextlib.suppress(OSError):
                self._cut_back()
            raise
        self._size += len(record)

    def _cut_back(self) -> None:
        os.ftruncate(self._fd, self._size)
        self._torn = False

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def read_journal(path: Path, after: int = -1, kind: type[R] = Batch) -> Iterator[R]:  # type: ignore[assignment]
    """Yield the journal's batches (of ``kind``) with ``seq > after``, in order.

    A record cut short or failing its checksum is skipped with a JournalWarning, and the
    read goes on at the next whole record: a crash mid-append leaves a torn tail, and a
    full disk may leave a torn record with whole ones after it.
    """
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    how = _KINDS[kind]
    while offset < len(data):
        try:
            batch, offset = _decode_at(data, offset, how)
        except JournalCorrupt as exc:
            resumed = _next_record(data, offset + 1, how)
            skipped = resumed - offset
            where = "the end" if resumed >= len(data) else f"byte {resumed}"
            warnings.warn(
                f"{path}: {exc}; {skipped} byte(s) skipped, reading on from {where}",
                JournalWarning,
                stacklevel=2,
            )
            offset = resumed
            continue
        if batch.seq > after:
            yield batch


def _next_record(data: bytes, start: int, how: _Kind) -> int:
    """The offset of the next whole, valid record at or after ``start`` (else the end)."""
    marker = start + HEADER.size
    while True:
        found = data.find(how.start, marker)
        if found < 0:
            return len(data)
        candidate = found - HEADER.size
        try:
            _decode_at(data, candidate, how)
        except JournalCorrupt:
            marker = found + 1
            continue
        return candidate


def _decode_at(data: bytes, offset: int, how: _Kind) -> tuple[Any, int]:
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
        return how.decoder.decode(payload), start + length
    except msgspec.DecodeError as exc:
        raise JournalCorrupt(f"record at byte {offset} does not decode: {exc}") from None


def dead_letter(journal: Path, batch: Record) -> Path:
    """Keep a batch the store refused, in the journal format, beside the journal."""
    target = rejected_path(journal)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(fd, "ab") as f:
        f.write(encode_record(batch))
        f.flush()
        os.fsync(f.fileno())
    return target


def rejected_path(journal: Path) -> Path:
    return journal.with_suffix(".rejected")


def meta_path(journal: Path) -> Path:
    return journal.with_suffix(".meta")


def write_meta(journal: Path, uri: str, run_id: str, project: str) -> None:
    """Record which store the journal is meant for (``assay sync`` delivers it there)."""
    info = {"uri": uri, "run_id": run_id, "project": project}
    _replace(meta_path(journal), json.dumps(info), ".meta-")


def read_meta(journal: Path) -> dict[str, Any]:
    """The journal's meta record, or {} when it has none (written before it existed)."""
    try:
        info = json.loads(meta_path(journal).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def acked_path(journal: Path) -> Path:
    return journal.with_suffix(".acked")


def read_acked(journal: Path) -> int:
    try:
        return int(acked_path(journal).read_text().strip() or -1)
    except (FileNotFoundError, ValueError):
        return -1


def write_acked(journal: Path, seq: int) -> bool:
    """Record the delivered mark atomically (temp file, then rename). It is a hint (a
    replay is harmless), so a failure to write it, on a full disk say, is only reported:
    False."""
    try:
        _replace(acked_path(journal), str(seq), ".acked-")
    except OSError:
        return False
    return True


def _replace(target: Path, text: str, prefix: str) -> None:
    """Write a small file atomically, mode 0600."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=prefix)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    meta_path(journal).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        journal.parent.rmdir()  # the run's folder, once its last journal is gone


def journals_under(root: Path) -> list[Path]:
    """Every journal below a folder (or the file itself), oldest run first."""
    if root.is_file():
        return [root]
    return sorted(root.rglob(f"*{SUFFIX}"))
