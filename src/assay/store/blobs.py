"""Content-addressed blobs in a local folder: ``<root>/<2 hex>/<rest of BLAKE3 hex>``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from blake3 import blake3

from assay.errors import InvalidInput, NotFound


def digest_of(data: bytes) -> str:
    return str(blake3(data).hexdigest())


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidInput(f"blob digest {digest!r} is not a BLAKE3 hex digest")
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file, then rename: a reader never sees half a blob.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
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

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in {self.root}") from None
        if digest_of(data) != digest:
            raise InvalidInput(
                f"blob {digest} is corrupt: its content no longer matches its digest"
            )
        return data
