"""The copies rich values keep (assay.media.value.Buffers): exact for every layout and
dtype an image may come in, never sharing memory with the caller's array, recycled only
once given back, and bounded."""

from __future__ import annotations

import numpy as np
import pytest

from assay.media.value import Buffers

RNG = np.random.default_rng(11)
SHAPE = (256, 256, 3)  # large enough to be copied into reserved memory


def layouts() -> list[np.ndarray]:
    base = RNG.integers(0, 256, (3, 256, 256), dtype=np.uint8)
    return [
        RNG.integers(0, 256, SHAPE, dtype=np.uint8),  # C-contiguous
        base.transpose(1, 2, 0),  # CxHxW read as HxWxC: strided
        RNG.integers(0, 256, (512, 256, 3), dtype=np.uint8)[::2],  # every other row
        RNG.random(SHAPE, dtype=np.float32),
        RNG.random(SHAPE) > 0.5,  # bool
        np.asfortranarray(RNG.integers(0, 256, SHAPE, dtype=np.uint8)),
    ]


@pytest.mark.parametrize("view", layouts(), ids=["c", "chw", "rows", "float", "bool", "fortran"])
def test_a_copy_is_exact_and_shares_no_memory_with_the_callers_array(view: np.ndarray) -> None:
    buffers = Buffers()
    expected = view.copy()
    copied = buffers.copy(view)
    assert copied.shape == view.shape and copied.dtype == view.dtype
    assert not np.shares_memory(copied, view)
    view[...] = 0  # the caller reuses its array
    np.testing.assert_array_equal(copied, expected)


@pytest.mark.parametrize("view", layouts(), ids=["c", "chw", "rows", "float", "bool", "fortran"])
def test_a_recycled_buffer_holds_the_new_image_exactly(view: np.ndarray) -> None:
    buffers = Buffers()
    first = buffers.copy(np.zeros_like(view))
    buffers.give(first)  # the writer has encoded it
    second = buffers.copy(view)
    assert np.shares_memory(first, second), "the buffer given back is reused"
    np.testing.assert_array_equal(second, view)


def test_a_buffer_still_queued_is_never_handed_out_again() -> None:
    buffers = Buffers()
    held = [buffers.copy(np.full(SHAPE, n, np.uint8)) for n in range(4)]
    buffers.give(held[0])
    again = buffers.copy(np.full(SHAPE, 9, np.uint8))
    for n, image in enumerate(held[1:], start=1):
        assert not np.shares_memory(image, again)
        assert (image == n).all()


def test_buffers_kept_for_reuse_stay_under_the_limit() -> None:
    one = int(np.prod(SHAPE))
    buffers = Buffers(limit=3 * one)
    copies = [buffers.copy(np.zeros(SHAPE, np.uint8)) for _ in range(5)]
    for copy in copies:
        buffers.give(copy)
    reused = [buffers.copy(np.zeros(SHAPE, np.uint8)) for _ in range(5)]
    recycled = [r for r in reused if any(np.shares_memory(r, c) for c in copies)]
    assert len(recycled) == 3
