"""Pillow at the edge: any image file back to arrays, arrays to PNG (written by
``assay.media.png``, numpy and zlib only), and frames to an animated GIF (Pillow). Pillow
is imported only here, when an image is opened or read or a video's frames encoded
(``pip install 'assay[media]'``)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.media import png

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from PIL import Image as PILImage


def pil(what: str = "images") -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise InvalidInput(f"{what} need Pillow: pip install 'assay[media]' (or pillow)") from None
    return PILImage


def is_pil(value: object) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "getbands")


def to_png(array: NDArray[Any]) -> bytes:
    """A uint8 HxW, HxWx3 or HxWx4 array as PNG bytes."""
    return png.encode(array)


def to_gif(frames: NDArray[Any], fps: float) -> bytes:
    """uint8 frames (TxHxW or TxHxWx3) as an animated GIF that loops, ``fps`` frames a
    second (GIF counts in hundredths: 100 fps at most); each frame gets its own palette
    of 256 colours, as GIF allows."""
    image = pil("video frames")
    pictures = [image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=max(10, round(1000 / fps)),
        loop=0,
    )
    return buffer.getvalue()


def open_bytes(data: bytes, what: str) -> PILImage.Image:
    try:
        image = pil().open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{what} is not an image Pillow can read ({exc})") from None
    return image  # type: ignore[no-any-return]


def to_array(data: bytes, what: str) -> NDArray[Any]:
    import numpy as np

    image = open_bytes(data, what)
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return np.asarray(image)
