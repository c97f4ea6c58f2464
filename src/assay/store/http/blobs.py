"""``store.blobs`` over HTTP (server/api/blobs.py answers)."""

from __future__ import annotations

from collections.abc import Sequence

from assay import wire
from assay.store.blobs import blob_name, digest_of, verified
from assay.store.http.transport import Transport, decode


class HttpBlobs:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def put(self, data: bytes) -> str:
        response = self.http.call(
            "PUT",
            "/api/v1/blobs",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        return decode(response, wire.BlobRef).digest

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        return [self.put(data) for data in blobs]

    def get(self, digest: str) -> bytes:
        blob_name(digest)  # refuse a malformed digest before asking
        response = self.http.call("GET", f"/api/v1/blobs/{digest}")
        return verified(digest, response.content, self.http.uri)

    def missing(self, digests: Sequence[str]) -> list[str]:
        response = self.http.send("POST", "/api/v1/blobs/missing", wire.Digests(list(digests)))
        return decode(response, wire.Missing).missing

    def upload(self, blobs: Sequence[bytes]) -> list[str]:
        """Every blob's digest, sending only the ones the server lacks (a retry resumes)."""
        digests = [digest_of(data) for data in blobs]
        missing = set(self.missing(digests))
        for digest, data in zip(digests, blobs, strict=True):
            if digest in missing:
                self.put(data)
        return digests
