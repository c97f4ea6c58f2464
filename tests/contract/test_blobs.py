"""The contract of ``store.blobs``: every backend must pass all of these."""

from __future__ import annotations

import pytest

from assay.errors import InvalidInput, NotFound
from assay.store import Store


def test_blobs_are_content_addressed(store: Store) -> None:
    digest = store.blobs.put(b"hello")
    assert store.blobs.put(b"hello") == digest
    assert store.blobs.get(digest) == b"hello"
    with pytest.raises(NotFound):
        store.blobs.get("0" * 64)
    with pytest.raises(InvalidInput, match="digest"):
        store.blobs.get("../../etc/passwd")


@pytest.mark.parametrize("location", ["ftp://host/blobs", "gs://bucket/x"])
def test_an_unknown_blob_location_is_refused(location: str) -> None:
    from assay.store.blobs import open_blobs

    with pytest.raises(InvalidInput, match="use a folder or s3://"):
        open_blobs(location)
