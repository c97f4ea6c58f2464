"""The contract of ``store.blobs``: every backend must pass all of these."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest

from assay.errors import InvalidInput, NotFound
from assay.store import Store
from assay.store.blobs import digest_of
from assay.store.facets.blobs import FileRange


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


def _ranges(path: Path, data: bytes, cuts: list[int]) -> list[FileRange]:
    bounds = [0, *cuts, len(data)]
    return [
        FileRange(path=path, offset=start, size=end - start, digest=digest_of(data[start:end]))
        for start, end in itertools.pairwise(bounds)
    ]


def test_blobs_go_in_from_ranges_of_files_and_come_back_as_put_many_stores_them(
    store: Store, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.bin", tmp_path / "two.bin"
    first, second = os.urandom(50_000), os.urandom(20_000)
    one.write_bytes(first)
    two.write_bytes(second)
    ranges = _ranges(one, first, [10_000, 30_000]) + _ranges(two, second, [5_000])
    ranges.append(ranges[0])  # a blob twice in one call is stored once
    store.blobs.put_ranges(ranges)
    digests = [r.digest for r in ranges]
    assert store.blobs.missing(digests) == []
    assert b"".join(store.blobs.get_many(digests[:3])) == first
    assert b"".join(store.blobs.get_many(digests[3:5])) == second
    assert store.blobs.put_many([first[10_000:30_000]]) == [digests[1]]
    store.blobs.put_ranges([])


@pytest.mark.parametrize("how", ["rewritten", "truncated"])
def test_a_file_that_changed_since_it_was_split_stores_none_of_its_ranges(
    store: Store, tmp_path: Path, how: str
) -> None:
    path = tmp_path / "data.bin"
    data = os.urandom(60_000)
    path.write_bytes(data)
    ranges = _ranges(path, data, [20_000, 40_000])
    if how == "rewritten":
        with open(path, "r+b") as f:
            f.seek(45_000)
            f.write(b"changed")
    else:
        with open(path, "r+b") as f:
            f.truncate(50_000)
    with pytest.raises(InvalidInput, match=re.escape(f"{path} changed while it was being stored")):
        store.blobs.put_ranges(ranges)
    assert store.blobs.missing([r.digest for r in ranges]) == [r.digest for r in ranges]
