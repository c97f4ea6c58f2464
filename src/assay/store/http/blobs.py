"""``store.blobs`` over HTTP (server/api/blobs.py answers)."""

from __future__ import annotations

from collections.abc import Sequence

from assay import wire
from assay.errors import CorruptData, LimitExceeded
from assay.store.blobs import blob_name, digest_of, read_ranges, verified
from assay.store.facets.blobs import FileRange
from assay.store.http.transport import Transport, decode

REQUEST_BYTES = 16 << 20  # blob bytes per batch request


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
        """Many blobs per request, up to REQUEST_BYTES each (well under the server's
        body limit), instead of a request per blob."""
        digests: list[str] = []
        start = 0
        while start < len(blobs):
            end, size = start, 0
            while end < len(blobs) and (end == start or size + len(blobs[end]) <= REQUEST_BYTES):
                size += len(blobs[end])
                end += 1
            digests.extend(self._put_batch(blobs[start:end]))
            start = end
        return digests

    def put_ranges(self, ranges: Sequence[FileRange]) -> None:
        """The ranges read and checked against their digests here, then sent as
        ``put_many`` sends bytes: a file that changed sends nothing."""
        self.put_many(read_ranges(ranges))

    def _put_batch(self, blobs: Sequence[bytes]) -> list[str]:
        """One request; a server whose body limit is lower than REQUEST_BYTES refuses it
        (413), and the batch goes again in halves."""
        try:
            response = self.http.send("POST", "/api/v1/blobs/batch", wire.BlobBatch(list(blobs)))
        except LimitExceeded:
            if len(blobs) < 2:
                raise
            half = len(blobs) // 2
            return self._put_batch(blobs[:half]) + self._put_batch(blobs[half:])
        digests = decode(response, wire.Digests).digests
        if len(digests) != len(blobs):
            raise CorruptData(f"{self.http.uri} answered {len(digests)} digests for {len(blobs)}")
        return digests

    def get(self, digest: str) -> bytes:
        blob_name(digest)  # refuse a malformed digest before asking
        response = self.http.call("GET", f"/api/v1/blobs/{digest}")
        return verified(digest, response.content, self.http.uri)

    def get_many(self, digests: Sequence[str]) -> list[bytes]:
        """Many blobs per request, each verified against its digest here; the server
        answers as many as fit its body limit, and the rest are asked for again."""
        for digest in digests:
            blob_name(digest)
        blobs: list[bytes] = []
        while len(blobs) < len(digests):
            rest = list(digests[len(blobs) :])
            response = self.http.send("POST", "/api/v1/blobs/read", wire.Digests(rest))
            answered = decode(response, wire.BlobBatch).blobs
            if not answered or len(answered) > len(rest):
                raise CorruptData(f"{self.http.uri} answered {len(answered)} blobs for {len(rest)}")
            blobs.extend(answered)
        return [verified(d, b, self.http.uri) for d, b in zip(digests, blobs, strict=True)]

    def missing(self, digests: Sequence[str]) -> list[str]:
        response = self.http.send("POST", "/api/v1/blobs/missing", wire.Digests(list(digests)))
        return decode(response, wire.Missing).missing

    def upload(self, blobs: Sequence[bytes]) -> list[str]:
        """Every blob's digest, sending only the ones the server lacks (a retry resumes)."""
        digests = [digest_of(data) for data in blobs]
        missing = set(self.missing(digests))
        pairs = zip(digests, blobs, strict=True)
        self.put_many([data for digest, data in pairs if digest in missing])
        return digests
