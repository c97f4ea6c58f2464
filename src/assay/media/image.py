"""``assay.Image``: a numpy array (HxW, HxWx1/3/4, CxHxW; uint8, bool, or float in
[0, 1]), a PIL image or an image file, with an optional caption, boxes and masks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.media import boxes as box_checks
from assay.media import pixels
from assay.media.value import BUFFERS, Encoded, Fetch, Lazy, Value, as_array, caption_of

if TYPE_CHECKING:
    from numpy.typing import NDArray

# per image (4000x3000); larger is refused at the call. Each blob stays under a server's
# request limit (64 MiB by default) even as RGBA noise, which PNG cannot shrink.
MAX_PIXELS = 12_000_000
MAX_FILE_BYTES = 48 * 1024 * 1024
CHANNELS = (1, 3, 4)


class Image(Value):
    """An image to log: ``run.log({"sample": assay.Image(array, caption="step 3")})``.

    ``boxes``: a list of ``{"box": [x0, y0, x1, y1], "label": str, "score": float}`` in
    pixels (label and score optional), kept as ``image.boxes``; or named box layers
    ``{"predictions": {"boxes": [...], "class_labels": {1: "cat"}}}`` with W&B's box
    forms, class ids, captions and several scores per box, kept as ``image.box_layers``
    (assay.media.boxes). ``masks``: ``{name: HxW integer array}`` of class
    ids 0-255, with ``mask_labels`` ``{id: name}`` naming them."""

    kind = "image"

    def __init__(
        self,
        data: Any,
        caption: str | None = None,
        *,
        boxes: list[dict[str, Any]] | dict[str, Any] | None = None,
        masks: dict[str, Any] | None = None,
        mask_labels: dict[int, str] | None = None,
    ) -> None:
        self.caption = caption_of(caption, "image")
        self._array: NDArray[Any] | None = None
        self._file: bytes | None = None
        self._stored: Lazy | None = None
        self._mask_blobs: dict[str, Lazy] = {}
        self.format = "png"
        if isinstance(data, str | os.PathLike):
            self._file, self.format, self.width, self.height = _read_file(Path(data))
        else:
            array = _array_of(data)
            self._array = array
            self.height, self.width = int(array.shape[0]), int(array.shape[1])
        self.boxes, self.box_layers = box_checks.check(boxes, self.width, self.height)
        self.masks = _check_masks(masks, self.height, self.width)
        self.mask_labels = _check_labels(mask_labels)

    # ---- storing ------------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        own = self._array.nbytes if self._array is not None else len(self._file or b"")
        return own + sum(m.nbytes for m in self.masks.values())

    def encode(self, out: Encoded) -> dict[str, Any]:
        array = self._array
        if array is not None:
            png = pixels.to_png(_to_uint8(array))
            self._file = png  # from here on the image is its PNG: the copy is recycled
            self._array = None
            BUFFERS.give(array)
            digest = out.add(png)
        elif self._file is not None:
            digest = out.add(self._file)
        else:
            assert self._stored is not None
            digest = out.add(self._stored.data)
        body: dict[str, Any] = {
            "digest": digest,
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }
        if self.caption is not None:
            body["caption"] = self.caption
        if self.boxes:
            body["boxes"] = self.boxes
        if self.box_layers:
            body["box_layers"] = box_checks.layers_body(self.box_layers)
        if self.masks:
            body["masks"] = {k: out.add(pixels.to_png(m)) for k, m in self.masks.items()}
        if self.mask_labels:
            body["mask_labels"] = {str(k): v for k, v in self.mask_labels.items()}
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Image:
        image = cls.__new__(cls)
        image.caption = body.get("caption")
        image._array = image._file = None
        image._stored = Lazy(body["digest"], fetch)
        image.format = body.get("format", "png")
        image.width, image.height = int(body["width"]), int(body["height"])
        image.boxes = list(body.get("boxes", []))
        image.box_layers = box_checks.layers_from_body(body.get("box_layers", {}))
        image._mask_blobs = {k: Lazy(d, fetch) for k, d in body.get("masks", {}).items()}
        image.masks = {}
        image.mask_labels = {int(k): v for k, v in body.get("mask_labels", {}).items()}
        return image

    # ---- reading back ---------------------------------------------------------------------------

    @property
    def digest(self) -> str | None:
        return self._stored.digest if self._stored is not None else None

    @property
    def data(self) -> bytes:
        """The encoded image (PNG, or the logged file's own bytes)."""
        if self._stored is not None:
            return self._stored.data
        array = self._array
        if array is not None:
            png = pixels.to_png(_to_uint8(array))
            if self._array is array:  # not encoded (and recycled) meanwhile
                return png
        assert self._file is not None
        return self._file

    def to_numpy(self) -> NDArray[Any]:
        """The pixels as a uint8 array (HxW, HxWx3 or HxWx4)."""
        array = self._array
        if array is not None:
            pixels_now = _to_uint8(array).copy()
            if self._array is array:  # not encoded (and recycled) meanwhile
                return pixels_now
        return pixels.to_array(self.data, "the image")

    def to_pil(self) -> Any:
        return pixels.open_bytes(self.data, "the stored image")

    def mask(self, name: str) -> NDArray[Any]:
        """A mask's class ids as an HxW uint8 array."""
        if name in self.masks:
            return self.masks[name]
        if name not in self._mask_blobs:
            raise KeyError(name)
        return pixels.to_array(self._mask_blobs[name].data, f"mask {name!r}")

    @property
    def mask_names(self) -> list[str]:
        return sorted({*self.masks, *self._mask_blobs})

    def __repr__(self) -> str:
        caption = f" {self.caption!r}" if self.caption else ""
        return f"<Image {self.width}x{self.height}{caption}>"


def _array_of(data: Any) -> NDArray[Any]:
    import numpy as np

    if pixels.is_pil(data):
        if data.mode not in ("L", "RGB", "RGBA"):
            data = data.convert("RGBA" if "A" in data.getbands() else "RGB")
        return np.array(data, copy=True)
    if type(data).__module__.startswith("matplotlib"):
        raise InvalidInput("a matplotlib figure is logged as assay.Plot(figure), not an Image")
    array = as_array(data, "image", copy=False)
    if array.dtype.kind in "OUSV":
        raise InvalidInput(
            f"cannot read {type(data).__name__} as an image: pass an array, a PIL image or a "
            "file path"
        )
    if array.ndim == 3 and array.shape[0] in CHANNELS and array.shape[-1] > max(CHANNELS):
        array = array.transpose(1, 2, 0)  # CxHxW, as torch keeps it
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in CHANNELS):
        raise InvalidInput(
            f"image array has shape {array.shape}; expected HxW, HxWx1, HxWx3 or HxWx4 "
            "(or CxHxW with 1, 3 or 4 channels)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise InvalidInput(f"image of shape {array.shape} is empty or over {MAX_PIXELS} pixels")
    return BUFFERS.copy(_check_dtype(array))  # checked on the caller's array, then copied


def _check_dtype(array: NDArray[Any]) -> NDArray[Any]:
    import numpy as np

    kind = array.dtype.kind
    if array.dtype == np.uint8 or kind == "b":
        return array
    if kind == "f":
        low, high = float(array.min()), float(array.max())
        if np.isnan(low) or np.isnan(high):
            raise InvalidInput("image array holds NaN values")
        if low < 0.0 or high > 1.0:
            raise InvalidInput(
                f"a float image must lie in [0, 1]; this one spans [{low:g}, {high:g}] "
                "(divide by 255, or pass uint8)"
            )
        return array
    raise InvalidInput(
        f"image dtype {array.dtype} is not supported: pass uint8 (0-255), bool, or float in "
        "[0, 1] (e.g. array.astype(numpy.uint8))"
    )


def _to_uint8(array: NDArray[Any]) -> NDArray[Any]:
    import numpy as np

    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    return (array * 255.0 + 0.5).astype(np.uint8)


def _read_file(path: Path) -> tuple[bytes, str, int, int]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(f"image file {path} is over {MAX_FILE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read image file {path}: {exc.strerror or exc}") from None
    image = pixels.open_bytes(data, f"image file {path}")
    kind = (image.format or "png").lower()
    return data, kind, int(image.width), int(image.height)


def _check_masks(masks: object, height: int, width: int) -> dict[str, NDArray[Any]]:
    import numpy as np

    if masks is None:
        return {}
    if not isinstance(masks, dict):
        raise InvalidInput("image masks must be a dict of {name: HxW array of class ids}")
    checked = {}
    for name, mask in masks.items():
        array = as_array(mask, f"image mask {name!r}")
        if array.shape != (height, width):
            raise InvalidInput(
                f"image mask {name!r} has shape {array.shape}; the image is {height}x{width}"
            )
        if array.dtype.kind not in "biu" or (array.size and (array.min() < 0 or array.max() > 255)):
            raise InvalidInput(f"image mask {name!r} must hold integer class ids from 0 to 255")
        checked[str(name)] = array.astype(np.uint8)
    return checked


def _check_labels(labels: object) -> dict[int, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, int) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InvalidInput("mask_labels must be a dict of {class id: name}")
    return dict(labels)
