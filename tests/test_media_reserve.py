"""Memory made ready ahead for the copies rich values keep: pieces of populated slabs,
never overlapping, only for mid-sized copies, and refilled in a forked child too."""

from __future__ import annotations

import mmap
import os
import time

import numpy as np
import pytest

from assay.media.reserve import Reserve

pytestmark = pytest.mark.skipif(
    not hasattr(mmap, "MAP_POPULATE"), reason="populated slabs need Linux's MAP_POPULATE"
)


def first_piece(reserve: Reserve, nbytes: int) -> np.ndarray:
    """The first piece once the background thread has a slab ready (it is asked by the
    first take, which finds none)."""
    deadline = time.monotonic() + 30  # liveness only: a slab is ready in milliseconds
    while time.monotonic() < deadline:
        piece = reserve.take(nbytes)
        if piece is not None:
            return piece
        time.sleep(0.001)
    raise AssertionError("the reserve never made a slab ready")


def test_pieces_of_a_slab_never_overlap() -> None:
    reserve = Reserve(slab=1024 * 1024, ahead=1)
    size = 100_000
    pieces = [first_piece(reserve, size) for _ in range(25)]  # several slabs' worth
    for n, piece in enumerate(pieces):
        piece[:] = n
    for n, piece in enumerate(pieces):
        assert piece.nbytes == size and piece.flags.writeable
        assert (piece == n).all(), f"piece {n} was overwritten by another"
        assert piece.ctypes.data % 64 == 0


@pytest.mark.parametrize("nbytes", [10, 64 * 1024 - 1, 256 * 1024 + 1])
def test_small_and_large_copies_are_left_to_malloc(nbytes: int) -> None:
    reserve = Reserve(slab=1024 * 1024)
    assert reserve.take(nbytes) is None
    assert reserve._owner == 0, "no thread is started for sizes the reserve never serves"


def test_a_slab_lives_while_any_piece_of_it_does() -> None:
    reserve = Reserve(slab=1024 * 1024, ahead=1)
    keep = first_piece(reserve, 200_000)
    keep[:] = 7
    for _ in range(40):  # move on through several slabs, dropping their pieces
        first_piece(reserve, 200_000)[:] = 1
    assert (keep == 7).all()


def test_a_forked_child_gets_a_reserve_of_its_own() -> None:
    reserve = Reserve(slab=1024 * 1024, ahead=1)
    first_piece(reserve, 100_000)
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here, so a new one must fill
        try:
            pieces = [first_piece(reserve, 100_000) for _ in range(30)]
            os._exit(0 if len(pieces) == 30 else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
