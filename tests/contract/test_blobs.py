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


def test_many_blobs_go_and_come_back_in_one_call_each(store: Store) -> None:
    blobs = [bytes([i]) * (1000 + i) for i in range(50)] + [b"hello"]
    digests = store.blobs.put_many(blobs)
    assert digests == [store.blobs.put(b) for b in blobs]  # the same content addressing
    assert store.blobs.missing(digests) == []
    assert store.blobs.get_many(list(reversed(digests))) == list(reversed(blobs))
    assert store.blobs.get_many([]) == [] and store.blobs.put_many([]) == []
    with pytest.raises(NotFound):
        store.blobs.get_many([digests[0], "0" * 64])
    with pytest.raises(InvalidInput, match="digest"):
        store.blobs.get_many(["../../etc/passwd"])


def test_blobs_stored_again_in_a_batch_are_kept_once(store: Store) -> None:
    first = store.blobs.put_many([b"a" * 5000, b"b" * 5000])
    again = store.blobs.put_many([b"b" * 5000, b"c" * 5000, b"a" * 5000])
    assert again == [first[1], store.blobs.put(b"c" * 5000), first[0]]
    assert store.blobs.get_many(again) == [b"b" * 5000, b"c" * 5000, b"a" * 5000]
