"""PNG files written from arrays (assay.media.png): Pillow reads back the same pixels,
rows are filtered as libpng's heuristic chooses, and data that does not shrink is
stored rather than deflated."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from assay.errors import InvalidInput
from assay.media import pixels, png

RNG = np.random.default_rng(7)


def smooth(shape: tuple[int, ...]) -> np.ndarray:
    """Gradients with a little noise: what photographs look like to a PNG filter."""
    grid = np.indices(shape[:2]).astype(np.int64)
    base = grid[0] * 3 + grid[1] * 5 + (grid[0] * grid[1]) // 7
    layers = [base + 40 * c for c in range(shape[2])] if len(shape) == 3 else [base]
    stacked = np.stack(layers, axis=-1) if len(shape) == 3 else layers[0]
    return ((stacked + RNG.integers(0, 3, shape)) % 256).astype(np.uint8)


def noise(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


SHAPES = [(1, 1), (1, 9), (11, 1), (5, 7, 3), (3, 2, 4), (4, 6, 2), (300, 17, 3), (600, 600)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("content", [noise, smooth, np.zeros])
def test_pillow_reads_back_the_same_pixels(shape: tuple[int, ...], content) -> None:  # type: ignore[no-untyped-def]
    array = np.asarray(content(shape), dtype=np.uint8)
    with PILImage.open(io.BytesIO(png.encode(array))) as image:
        image.load()
        assert image.format == "PNG"
        back = np.asarray(image)
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_images_pillow_encoded_and_encoded_here_read_back_alike() -> None:
    # images stored before PNGs were written here were Pillow's: both read back the same
    array = smooth((64, 48, 3))
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG", compress_level=1)
    np.testing.assert_array_equal(pixels.to_array(buffer.getvalue(), "old"), array)
    np.testing.assert_array_equal(pixels.to_array(pixels.to_png(array), "new"), array)


def reference_filtered(rows: np.ndarray, bpp: int) -> np.ndarray:
    """libpng's heuristic, byte by byte: per row, the filter (None, Sub, Up, Paeth)
    whose output, read as signed bytes, sums smallest in absolute value (first wins)."""
    height, stride = rows.shape
    out = np.zeros((height, stride + 1), np.uint8)
    for y in range(height):
        best: tuple[int, int, list[int]] | None = None
        for kind in png.FILTERS:
            line = []
            for x in range(stride):
                a = int(rows[y, x - bpp]) if x >= bpp else 0
                b = int(rows[y - 1, x]) if y else 0
                c = int(rows[y - 1, x - bpp]) if y and x >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
                predicted = {0: 0, 1: a, 2: b, 4: paeth}[kind]
                line.append((int(rows[y, x]) - predicted) % 256)
            cost = sum(min(v, 256 - v) for v in line)
            if best is None or cost < best[0]:
                best = (cost, kind, line)
        assert best is not None
        out[y, 0] = best[1]
        out[y, 1:] = best[2]
    return out


def test_rows_are_filtered_as_libpngs_heuristic_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "BAND_BYTES", 64)  # several bands: rows meet across their edges
    stripes = np.zeros((6, 16), np.uint8)
    stripes[1] = noise((16,))
    stripes[2] = stripes[1]  # Up
    stripes[3] = np.arange(16) * 9  # Sub
    images = [(stripes, 1), (smooth((24, 20, 3)).reshape(24, 60), 3), (noise((9, 12)), 4)]
    chosen: set[int] = set()
    for rows, bpp in images:
        expected = reference_filtered(rows, bpp)
        np.testing.assert_array_equal(png.filtered(rows, bpp), expected)
        chosen.update(expected[:, 0].tolist())
    assert chosen == set(png.FILTERS), "every filter type was checked"


def idat(data: bytes) -> bytes:
    """The concatenated IDAT data of a PNG file (its zlib stream)."""
    offset, found = len(png.SIGNATURE), b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            found += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return found


def first_block_type(stream: bytes) -> int:
    """BTYPE of a zlib stream's first deflate block: 0 stored, 1 or 2 compressed."""
    return (stream[2] >> 1) & 3


def test_data_that_does_not_shrink_is_stored_and_the_rest_deflated() -> None:
    random = png.encode(noise((256, 256, 3)))
    gradient = png.encode(smooth((256, 256, 3)))
    assert first_block_type(idat(random)) == 0
    assert len(random) < 256 * 257 * 3 + 200  # stored: the scanlines and little else
    assert first_block_type(idat(gradient)) != 0
    assert len(gradient) < 256 * 256 * 3 // 2
    scanlines = zlib.decompress(idat(random))
    assert len(scanlines) == 256 * (256 * 3 + 1)


def test_small_images_are_deflated_without_a_sample() -> None:
    tiny = np.zeros((8, 8, 3), np.uint8)
    assert first_block_type(idat(png.encode(tiny))) != 0


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4), np.int64),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros(4, np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
    ids=["int64", "five channels", "one dimension", "empty"],
)
def test_what_png_cannot_hold_is_refused_naming_it(array: np.ndarray) -> None:
    with pytest.raises(InvalidInput, match="non-empty uint8 HxW or HxWxC"):
        png.encode(array)
