"""Content-addressed blobs, named by their BLAKE3 digest, in a local folder
(``LocalBlobStore``) or an S3-protocol bucket (``ObjectBlobStore``, through obstore).

In a folder, one blob stored alone is a loose file ``<2 hex>/<rest of BLAKE3 hex>``; many
stored together (``put_many``: an artifact's chunks) go into pack files (``packs``). Reads
look in both, so a folder written before packs existed opens and reads as it was. In a
bucket every blob stays one object of that name: a PUT is atomic and durable when it
returns, so packing would save no fsync there, only add an index to keep consistent."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from assay.digests import of_bytes
from assay.errors import CorruptData, InvalidInput, NotFound, StoreUnavailable, StoreUnusable
from assay.redact import redact_text
from assay.store.facets.blobs import FileRange
from assay.store.packs import PackFolder, source_changed, temp_prefix

TEMP = ".tmp-"  # a blob being written: .tmp-<host>-<pid>-<random>
STALE_TEMP_AGE = 24 * 3600.0  # a temp file older than this is left over, whoever wrote it


class StoredBlob(NamedTuple):
    digest: str
    size: int
    modified: float  # seconds since the epoch


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store bytes under their digest (atomically; a blob already there is refreshed,
        so garbage collection sees it as recent)."""

    def get(self, digest: str) -> bytes: ...

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many blobs, durable once this returns; their digests."""

    def put_ranges(self, ranges: Sequence[FileRange]) -> None:
        """Store many blobs from ranges of local files, each checked against its digest
        first (InvalidInput naming the file, nothing stored, if one no longer matches)."""

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        """These blobs' bytes, verified, in order."""

    def delete(self, digest: str) -> None: ...

    def delete_many(self, digests: Sequence[str]) -> None: ...

    def list(self) -> Iterator[StoredBlob]:
        """Every blob stored, for garbage collection."""

    def check(self) -> None:
        """StoreUnusable or StoreUnavailable, with a one-line reason that names no
        credentials or endpoint, unless blobs can be stored here (for readiness)."""


def digest_of(data: bytes) -> str:
    return of_bytes(data)


_DIGEST = re.compile(r"[0-9a-f]{64}")


def blob_name(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInput(f"blob digest {digest!r} is not a BLAKE3 hex digest")
    return f"{digest[:2]}/{digest[2:]}"


def verified(digest: str, data: bytes, where: str) -> bytes:
    if digest_of(data) != digest:
        raise CorruptData(f"blob {digest} in {where} is corrupt: its content no longer matches")
    return data


def read_ranges(ranges: Sequence[FileRange]) -> list[bytes]:
    """The ranges' bytes, each file opened once, each range checked against its digest:
    a file that changed since it was split is InvalidInput naming it. What a store that
    cannot copy from files (a bucket, a server) stores through ``put_many``."""
    fds: dict[Path, int] = {}
    try:
        datas = []
        for item in ranges:
            if item.path not in fds:
                fds[item.path] = os.open(item.path, os.O_RDONLY)
            data = os.pread(fds[item.path], item.size, item.offset)
            if len(data) != item.size or digest_of(data) != item.digest:
                raise source_changed(item.path)
            datas.append(data)
        return datas
    finally:
        for fd in fds.values():
            os.close(fd)


def open_blobs(location: str | Path) -> BlobStore:
    """A folder path, or ``s3://bucket/prefix`` (endpoint and credentials from the usual
    AWS environment variables, so MinIO, Ceph or any S3-protocol store works)."""
    text = str(location)
    if text.startswith("s3://"):
        return ObjectBlobStore(text)
    if "://" in text and not text.startswith("file://"):
        raise InvalidInput(f"blob location {text!r}: use a folder or s3://bucket/prefix")
    return LocalBlobStore(Path(text.removeprefix("file://")).expanduser())


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.packs = PackFolder(root)

    def _path(self, digest: str) -> Path:
        return self.root / blob_name(digest)

    def put(self, data: bytes) -> str:
        """One blob, as a loose file. A folder that cannot be written (full, read-only,
        no permission) is the store being unavailable, named without its path."""
        try:
            return self._put(data)
        except OSError as exc:
            raise StoreUnavailable(
                f"the blob store cannot be written: {exc.strerror or type(exc).__name__}"
            ) from exc

    def _put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        try:
            os.utime(path)  # already stored: mark it recent instead of writing it again
            return digest
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file, then rename: a reader never sees half a blob.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix())
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Many blobs into new pack files: one file and one fsync per pack (64 MiB)
        instead of a file each; durable and indexed when this returns."""
        digests = [digest_of(data) for data in blobs]
        try:
            self.packs.write(zip(digests, blobs, strict=True))
        except OSError as exc:
            raise StoreUnavailable(
                f"the blob store cannot be written: {exc.strerror or type(exc).__name__}"
            ) from exc
        return digests

    def put_ranges(self, ranges: Sequence[FileRange]) -> None:
        """Ranges of local files into new pack files, copied by the kernel where the
        files allow it, each blob hashed back from the pack before its index is
        published (see ``packs``). A source that cannot be opened raises as ``open``
        does; a store that cannot be written is StoreUnavailable."""
        with _opened(ranges) as sources:
            try:
                self.packs.copy(sources, ranges)
            except OSError as exc:
                raise StoreUnavailable(
                    f"the blob store cannot be written: {exc.strerror or type(exc).__name__}"
                ) from exc

    def get(self, digest: str) -> bytes:
        return self.get_many([digest])[0]

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        """These blobs' bytes, verified, in order: from packs (adjacent blobs of a pack
        read together), else loose files."""
        for digest in digests:
            blob_name(digest)
        try:
            packed = self.packs.read_many(digests)
            datas = [packed[d] if d in packed else self._loose(d) for d in digests]
        except OSError as exc:
            raise StoreUnavailable(
                f"the blob store cannot be read: {exc.strerror or type(exc).__name__}"
            ) from exc
        where = str(self.root)
        return [verified(d, data, where) for d, data in zip(digests, datas, strict=True)]

    def _loose(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not stored") from None

    def held(self, digests: Sequence[str]) -> set[str]:
        """Those of these digests whose bytes are here (an index look-up, a stat for a
        loose blob): a blob whose pack was torn or truncated is not."""
        packed = self.packs.has(digests)
        return packed | {d for d in digests if d not in packed and self._path(d).is_file()}

    def delete(self, digest: str) -> None:
        self.delete_many([digest])

    def delete_many(self, digests: Sequence[str]) -> None:
        """Remove these blobs: loose files, and from packs by repacking (see ``packs``)."""
        for digest in digests:
            self._path(digest).unlink(missing_ok=True)
        self.packs.remove(digests)

    def remove_stale_temps(self, old: float = STALE_TEMP_AGE) -> int:
        """Remove temp files that a killed writer left behind: those of a process of this
        machine that is gone, and any older than ``old`` seconds (the old naming, another
        machine's). Returns how many were removed."""
        if not self.root.is_dir():
            return 0
        host, cutoff = socket.gethostname(), time.time() - old
        removed = self.packs.remove_torn(cutoff, lambda entry: _stale(entry, host, cutoff))
        for folder in self.root.iterdir():
            if len(folder.name) != 2 or not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.startswith(TEMP) and _stale(entry, host, cutoff):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed

    def check(self) -> None:
        folder = self.root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # created on the first write: its parent must allow it
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise StoreUnusable("the blob folder cannot be written")

    def list(self) -> Iterator[StoredBlob]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if len(folder.name) != 2 or not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.startswith(TEMP) or len(entry.name) != 62:
                    continue
                stat = entry.stat()
                yield StoredBlob(folder.name + entry.name, stat.st_size, stat.st_mtime)
        for packed in self.packs.entries():
            yield StoredBlob(packed.digest, packed.size, packed.modified)


@contextmanager
def _opened(ranges: Sequence[FileRange]) -> Iterator[dict[Path, int]]:
    """The files the ranges come from, each opened once, read-only."""
    fds: dict[Path, int] = {}
    try:
        for path in dict.fromkeys(r.path for r in ranges):
            fds[path] = os.open(path, os.O_RDONLY)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def _temp_prefix() -> str:
    return temp_prefix()


def _stale(entry: os.DirEntry[str], host: str, cutoff: float) -> bool:
    parts = entry.name[len(TEMP) :].split("-")
    if len(parts) >= 3 and parts[0] == host.replace("-", "_") and parts[1].isdigit():
        return not _alive(int(parts[1]))
    try:
        return entry.stat().st_mtime < cutoff
    except FileNotFoundError:  # renamed into place meanwhile
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class ObjectBlobStore:
    """Blobs in an S3-protocol bucket. obstore's ``put`` is atomic and switches to a
    multipart upload for large blobs by itself."""

    def __init__(self, url: str) -> None:
        import obstore.store

        self.url = url
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL", "")
        options: Any = {"allow_http": endpoint.startswith("http://"), "timeout": "60s"}
        try:
            self._store = obstore.store.from_url(url, client_options=options)
        except Exception as exc:  # obstore raises its own error types for bad configs
            raise InvalidInput(f"blob location {url!r}: {object_store_reason(exc)}") from None

    def put(self, data: bytes) -> str:
        import obstore

        digest = digest_of(data)
        try:
            obstore.put(self._store, blob_name(digest), data)
        except Exception as exc:
            raise self._error(exc, f"cannot write blob {digest}") from None
        return digest

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """An object each, as ``put``: a bucket has no fsync to save, a PUT is atomic
        and durable when it returns, and transfers already run several at a time."""
        return [self.put(data) for data in blobs]

    def put_ranges(self, ranges: Sequence[FileRange]) -> None:
        """The ranges read and checked first, then an object each (``put_many``)."""
        self.put_many(read_ranges(ranges))

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        return [self.get(digest) for digest in digests]

    def delete_many(self, digests: Sequence[str]) -> None:
        for digest in digests:
            self.delete(digest)

    def get(self, digest: str) -> bytes:
        import obstore

        name = blob_name(digest)
        try:
            data = bytes(obstore.get(self._store, name).bytes())
        except Exception as exc:
            error = self._error(exc, f"cannot read blob {digest}")
            if isinstance(exc, FileNotFoundError) and not isinstance(error, StoreUnusable):
                raise NotFound(f"blob {digest} is not in {self.url}") from None
            raise error from None
        return verified(digest, data, self.url)

    def delete(self, digest: str) -> None:
        import obstore

        try:
            obstore.delete(self._store, blob_name(digest))
        except Exception as exc:
            error = self._error(exc, f"cannot delete blob {digest}")
            if isinstance(exc, FileNotFoundError) and not isinstance(error, StoreUnusable):
                return
            raise error from None

    def list(self) -> Iterator[StoredBlob]:
        import obstore

        try:
            for page in obstore.list(self._store):
                for meta in page:
                    name = str(meta["path"]).rsplit("/", 2)
                    digest = "".join(name[-2:])
                    if len(digest) == 64:
                        modified = meta["last_modified"].timestamp()
                        yield StoredBlob(digest, int(meta["size"]), modified)
        except Exception as exc:
            raise self._error(exc, "cannot list blobs") from None

    def check(self) -> None:
        import obstore

        try:
            next(iter(obstore.list(self._store, chunk_size=1)), None)
        except Exception as exc:
            raise self._error(exc, "the blob store does not answer", where=False) from None

    @property
    def bucket(self) -> str:
        return self.url.removeprefix("s3://").split("/", 1)[0]

    def _error(
        self, exc: Exception, doing: str, where: bool = True
    ) -> StoreUnavailable | StoreUnusable:
        """An obstore error as one line (obstore's text holds the whole HTTP exchange and a
        Rust debug dump): a missing bucket or refused credentials are StoreUnusable (not
        worth retrying), anything else StoreUnavailable."""
        reason = object_store_reason(exc)
        code = reason.partition(":")[0]
        if code == "NoSuchBucket":
            return StoreUnusable(f"bucket {self.bucket!r} does not exist")
        if code in _REFUSED:
            return StoreUnusable(f"bucket {self.bucket!r} refused access: {reason}")
        return StoreUnavailable(f"{doing}{f' in {self.url}' if where else ''}: {reason}")


_REFUSED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken")
_S3_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_S3_MESSAGE = re.compile(r"<Message>([^<]{1,300})</Message>")


def object_store_reason(exc: BaseException) -> str:
    """One short line for an obstore error: ``Code: message`` from an S3 error body, or
    the first line of its text without the request dump and with secrets hidden."""
    text = str(exc)
    code, message = _S3_CODE.search(text), _S3_MESSAGE.search(text)
    if code:
        return f"{code.group(1)}: {message.group(1) if message else ''}".rstrip(": ")
    line = text.split("Debug source:", 1)[0].strip().splitlines()
    first = line[0] if line else type(exc).__name__
    first = re.sub(r"https?://\S+", "", first)  # request URLs name the endpoint and keys
    first = re.sub(r"\s+", " ", first).strip(" :-")
    return redact_text(first[:300]) or type(exc).__name__
