"""PNG files written from uint8 arrays with numpy and zlib.

Each row is filtered the way libpng and Pillow choose (per row, the filter whose output
bytes, read as signed, sum smallest in absolute value: None, Sub, Up or Paeth), then the
rows are deflated at level 1. Data that a sample shows will not shrink (noise) is stored
instead: deflate spends as long failing to shrink such bytes as it spends on a photograph.

Written here rather than through Pillow: Pillow picks its filters byte by byte in branchy
C and offers no way to skip deflating what will not shrink. For a 256x256 RGB noise image
that cost about 13 ms of CPU, half choosing filters and half deflating bytes that came
out no smaller; here, about 2 ms (whole-band numpy operations in arrays kept for the
next image, then a sample and a stored copy). The format is PNG's own (signature, IHDR,
one IDAT, IEND; 8 bits per channel, no interlacing), so any reader opens these files,
and Pillow reads them back to the same pixels.
"""

from __future__ import annotations

import struct
import threading
import zlib
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from numpy.typing import NDArray

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# channels -> PNG colour type: grey, grey and alpha, RGB, RGBA
COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
LEVEL = 1  # zlib level: images are encoded often and read rarely; speed first
BAND_BYTES = 64 * 1024  # rows filtered together: the temporaries stay in cache, and small
KEEP_BYTES = 8 * 1024 * 1024  # a thread keeps the workspace of images up to this size
SAMPLE = 8 * 1024  # bytes of filtered rows, from four places, deflated to decide
STORE_ABOVE = 0.95  # a sample deflating to more than this share of its size: store it all
FILTERS = (0, 1, 2, 4)  # PNG filter types None, Sub, Up, Paeth, in the order tried


def encode(array: NDArray[Any]) -> bytes:
    """A uint8 HxW or HxWxC array (C: 1 to 4 channels) as the bytes of a PNG file."""
    import numpy as np

    channels = 1 if array.ndim == 2 else int(array.shape[-1])
    shaped = array.ndim in (2, 3) and channels in COLOUR_TYPE and array.size > 0
    if array.dtype != np.uint8 or not shaped:
        raise InvalidInput(
            f"a PNG is written from a non-empty uint8 HxW or HxWxC array (C from 1 to 4), "
            f"not {array.dtype} of shape {array.shape}"
        )
    height, width = int(array.shape[0]), int(array.shape[1])
    rows = np.ascontiguousarray(array).reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE[channels], 0, 0, 0)
    data = deflate(filtered(rows, channels))
    parts = [SIGNATURE, *_chunk(b"IHDR", header), *_chunk(b"IDAT", data), *_chunk(b"IEND", b"")]
    return b"".join(parts)


def filtered(rows: NDArray[Any], bpp: int) -> NDArray[Any]:
    """The rows (H x stride) as PNG scanlines: each row its filter type, then its
    filtered bytes. ``bpp``: bytes per pixel (the Sub and Paeth filters' distance).
    The result is this thread's scratch memory, valid until its next call."""
    height, stride = rows.shape
    band = max(1, min(height, BAND_BYTES // stride))
    work = _workspace(height, band, stride)
    for start in range(0, height, band):
        end = min(height, start + band)
        n = end - start
        above = work.above[:n]  # the row before each row (zeros before the first)
        above[0] = rows[start - 1] if start else 0
        above[1:] = rows[start : end - 1]
        _filter_band(rows[start:end], above, bpp, work, work.out[start:end])
    return work.out


class _Workspace:
    """The arrays one thread filters in, kept for its next image of the same size:
    memory allocated afresh for each image costs a page fault per 4 KiB, which on a
    virtual machine is several times the arithmetic."""

    def __init__(self, height: int, band: int, stride: int) -> None:
        import numpy as np

        self.key = (height, band, stride)
        self.out = np.empty((height, stride + 1), np.uint8)
        self.above, self.left, self.above_left, self.predicted, self.mask, self.spare = (
            np.empty((band, stride), np.uint8) for _ in range(6)
        )
        self.tried = np.empty((len(FILTERS), band, stride), np.uint8)
        self.distance = np.empty_like(self.tried)
        self.from_a, self.from_b, self.from_c = (
            np.empty((band, stride), np.int16) for _ in range(3)
        )
        self.first, self.second = (np.empty((band, stride), np.bool_) for _ in range(2))
        # a row's sum of distances (at most 128 a byte) in the narrowest type that holds it
        self.sum_type = np.uint32 if stride * 128 < 2**32 else np.uint64


_local = threading.local()


def _workspace(height: int, band: int, stride: int) -> _Workspace:
    work: _Workspace | None = getattr(_local, "work", None)
    if work is None or work.key != (height, band, stride):
        work = _Workspace(height, band, stride)
        if height * (stride + 1) <= KEEP_BYTES:  # a huge image's is not kept
            _local.work = work
    return work


def _filter_band(
    rows: NDArray[Any], above: NDArray[Any], bpp: int, work: _Workspace, out: NDArray[Any]
) -> None:
    import numpy as np

    n = len(rows)
    left, above_left = work.left[:n], work.above_left[:n]
    left[:, :bpp] = 0  # the byte bpp to the left (zero before the first pixel)
    left[:, bpp:] = rows[:, :-bpp]
    above_left[:, :bpp] = 0
    above_left[:, bpp:] = above[:, :-bpp]
    tried = work.tried[:, :n]
    tried[0] = rows
    np.subtract(rows, left, out=tried[1])
    np.subtract(rows, above, out=tried[2])
    np.subtract(rows, _paeth(left, above, above_left, work, n), out=tried[3])
    # a byte's distance from zero read as signed, min(v, 256 - v): |v| as int8, whose
    # |-128| wraps to -128, read back as uint8 (128). The first lowest sum wins.
    distance = work.distance[:, :n]
    np.abs(tried.view(np.int8), out=distance.view(np.int8))
    choice = distance.sum(axis=2, dtype=work.sum_type).argmin(axis=0)
    out[:, 0] = np.array(FILTERS, np.uint8)[choice]
    for index in range(len(FILTERS)):
        np.copyto(out[:, 1:], tried[index], where=(choice == index)[:, None])


def _paeth(
    a: NDArray[Any], b: NDArray[Any], c: NDArray[Any], work: _Workspace, n: int
) -> NDArray[Any]:
    """The Paeth predictor of each byte: of left (a), above (b) and above-left (c), the
    one nearest p = a + b - c, ties going to a, then b. Chosen with bit masks (0 or 255)
    rather than masked copies, which branch on every byte."""
    import numpy as np

    near_a, near_b, near_c = work.from_a[:n], work.from_b[:n], work.from_c[:n]
    np.subtract(b, c, out=near_a, dtype=np.int16)  # p - a
    np.subtract(a, c, out=near_b, dtype=np.int16)  # p - b
    np.add(near_a, near_b, out=near_c)  # p - c
    for near in (near_a, near_b, near_c):
        np.abs(near, out=near)
    first, second = work.first[:n], work.second[:n]
    np.less_equal(near_a, near_b, out=first)
    np.less_equal(near_a, near_c, out=second)
    np.logical_and(first, second, out=first)  # a
    np.less_equal(near_b, near_c, out=second)  # else b, else c
    predicted = work.predicted[:n]
    _select(b, c, second, work, predicted)
    _select(a, predicted, first, work, predicted)
    return predicted


def _select(
    yes: NDArray[Any], no: NDArray[Any], where: NDArray[Any], work: _Workspace, out: NDArray[Any]
) -> None:
    """``out`` = ``yes`` where ``where`` holds, else ``no`` (``out`` may be ``no``)."""
    import numpy as np

    n = len(out)
    mask, spare = work.mask[:n], work.spare[:n]
    np.negative(where.view(np.uint8), out=mask)  # True -> 255, False -> 0
    np.bitwise_xor(yes, no, out=spare)
    np.bitwise_and(spare, mask, out=spare)
    np.bitwise_xor(spare, no, out=out)


def deflate(scanlines: NDArray[Any]) -> bytes:
    """The zlib stream of the scanlines: deflated at LEVEL, or stored when a sample of
    them does not shrink."""
    data = scanlines.data.cast("B")
    return zlib.compress(data, LEVEL if _shrinks(data) else 0)


def _shrinks(data: memoryview) -> bool:
    """Whether four pieces of ``data``, spread over it, deflate to under STORE_ABOVE of
    their size (small data is simply deflated)."""
    if len(data) <= 2 * SAMPLE:
        return True
    piece, gap = SAMPLE // 4, len(data) // 4
    sample = b"".join(data[i * gap : i * gap + piece] for i in range(4))
    return len(zlib.compress(sample, LEVEL)) < STORE_ABOVE * len(sample)


def _chunk(kind: bytes, data: bytes) -> tuple[bytes, ...]:
    """A chunk's parts: its length, kind, data and the CRC-32 of kind and data."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)
