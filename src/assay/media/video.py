"""``assay.Video``: a video file (mp4, webm, gif or ogg), or its bytes with their format,
kept as they are; or frames (a uint8 array, frames x height x width x channels) encoded
in the writer as an animated GIF by Pillow, the only video encoder among Assay's
dependencies (mp4, webm and ogg need ffmpeg: encode those with imageio or PyAV and log
the file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.media import pixels
from assay.media.value import BUFFERS, Encoded, Fetch, Lazy, Value, as_array, caption_of

if TYPE_CHECKING:
    from numpy.typing import NDArray

FORMATS = ("mp4", "webm", "gif", "ogg")
MAX_FILE_BYTES = 48 * 1024 * 1024  # under a server's 64 MiB request limit
# frames x height x width of frames to encode: a GIF of noise (LZW cannot shrink it) stays
# under 48 MB
MAX_PIXELS = 32_000_000
MAX_FPS = 1000.0
DEFAULT_FPS = 4.0  # of frames given as an array, as W&B's
CHANNELS = (1, 3)
# the box an mp4 file may start with (ISO base media file format)
_MP4_BOXES = (b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide")


class Video(Value):
    """``assay.Video("clip.mp4", caption="episode 3")``; ``assay.Video(data,
    format="webm")`` for bytes (or an open binary file); ``assay.Video(frames, fps=8)``
    for a uint8 array of frames x height x width (x 1 or 3 channels; W&B's frames x
    channels x height x width is read too), stored as an animated GIF."""

    kind = "video"

    def __init__(
        self,
        data: Any,
        caption: str | None = None,
        fps: float | None = None,
        format: str | None = None,
    ) -> None:
        self.caption = caption_of(caption, "video")
        self.fps = _fps(fps)
        self.width: int | None = None
        self.height: int | None = None
        self._array: NDArray[Any] | None = None
        self._file: bytes | None = None
        self._stored: Lazy | None = None
        if isinstance(data, str | os.PathLike):
            path = Path(data)
            self.format = _format(format or path.suffix.lstrip(".").lower(), f"video file {path}")
            self._file = _read(path)
            _check_bytes(self._file, self.format, f"video file {path}")
        elif isinstance(data, bytes | bytearray | memoryview) or callable(
            getattr(data, "read", None)
        ):
            if format is None:
                raise InvalidInput(
                    f"a video given as bytes needs format= (one of {', '.join(FORMATS)})"
                )
            self.format = _format(format, "video")
            self._file = _bytes_of(data)
            _check_bytes(self._file, self.format, f"the {self.format} video")
        else:
            if format not in (None, "gif"):
                raise InvalidInput(
                    f"a video from an array is encoded as an animated GIF (with Pillow); "
                    f"format={format!r} needs an encoder Assay does not bring: encode the "
                    "frames with imageio (pip install 'imageio[ffmpeg]') or PyAV (pip "
                    "install av) and log the file"
                )
            pixels.pil("video frames")  # Pillow is found now, not missed later in the writer
            self.format = "gif"
            self.fps = self.fps or DEFAULT_FPS
            self._array = _frames(data)
            self.height, self.width = int(self._array.shape[1]), int(self._array.shape[2])

    @property
    def nbytes(self) -> int:
        return self._array.nbytes if self._array is not None else len(self._file or b"")

    def encode(self, out: Encoded) -> dict[str, Any]:
        array = self._array
        if array is not None:
            self._file = pixels.to_gif(array, self.fps or DEFAULT_FPS)
            self._array = None  # from here on the video is its GIF: the copy is recycled
            BUFFERS.give(array)
        body: dict[str, Any] = {"digest": out.add(self.data), "format": self.format}
        for name in ("caption", "fps", "width", "height"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Video:
        video = cls.__new__(cls)
        video.caption = body.get("caption")
        video.format = str(body.get("format", "mp4"))
        video.fps = body.get("fps")
        video.width, video.height = body.get("width"), body.get("height")
        video._array = video._file = None
        video._stored = Lazy(body["digest"], fetch)
        return video

    @property
    def data(self) -> bytes:
        """The video file's bytes (the GIF encoded from frames)."""
        if self._stored is not None:
            return self._stored.data
        array = self._array
        if array is not None:
            gif = pixels.to_gif(array, self.fps or DEFAULT_FPS)
            if self._array is array:  # not encoded (and recycled) meanwhile
                return gif
        assert self._file is not None
        return self._file

    def __repr__(self) -> str:
        caption = f" {self.caption!r}" if self.caption else ""
        return f"<Video {self.format}{caption}>"


def _fps(fps: object) -> float | None:
    if fps is None:
        return None
    if (
        isinstance(fps, bool)
        or not isinstance(fps, int | float)
        or not 0 < fps <= MAX_FPS
        or fps != fps
    ):
        raise InvalidInput(
            f"video fps must be a number above 0 and at most {MAX_FPS:g}; got {fps!r}"
        )
    return float(fps)


def _format(format: object, what: str) -> str:
    if format not in FORMATS:
        raise InvalidInput(
            f"{what}: video format {format!r} is not one Assay keeps ({', '.join(FORMATS)})"
        )
    return str(format)


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"video file {path} is over {MAX_FILE_BYTES} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read video file {path}: {exc.strerror or exc}") from None


def _bytes_of(data: Any) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        data = data.read(MAX_FILE_BYTES + 1)
        if not isinstance(data, bytes):
            raise InvalidInput("a video's open file must be opened in binary mode ('rb')")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"video is over {MAX_FILE_BYTES} bytes")
    return bytes(data)


def _check_bytes(data: bytes, format: str, what: str) -> None:
    """Refuse bytes that do not start as a file of ``format`` does (a format given wrong,
    or not a video at all)."""
    if format == "gif":
        ok = data[:6] in (b"GIF87a", b"GIF89a")
    elif format == "webm":
        ok = data[:4] == b"\x1a\x45\xdf\xa3"  # EBML
    elif format == "ogg":
        ok = data[:4] == b"OggS"
    else:
        ok = data[4:8] in _MP4_BOXES
    if not ok:
        raise InvalidInput(f"{what} is not a {format} file: its first bytes are {data[:8]!r}")


def _frames(data: Any) -> NDArray[Any]:
    import numpy as np

    array = as_array(data, "video", copy=False)
    if array.ndim == 4 and array.shape[1] in CHANNELS and array.shape[-1] not in CHANNELS:
        array = array.transpose(0, 2, 3, 1)  # frames x channels x height x width, as W&B's
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in CHANNELS):
        raise InvalidInput(
            f"video frames have shape {array.shape}; expected frames x height x width, "
            "with 1 or 3 channels last (or frames x channels x height x width)"
        )
    frames, height, width = (int(n) for n in array.shape[:3])
    if not frames or not height or not width or frames * height * width > MAX_PIXELS:
        raise InvalidInput(
            f"video of shape {array.shape} is empty or over {MAX_PIXELS} pixels "
            "(frames x height x width, MAX_PIXELS)"
        )
    if array.dtype != np.uint8:
        raise InvalidInput(
            f"video frames of dtype {array.dtype} are not supported: pass uint8 (0-255), "
            "e.g. frames.astype(numpy.uint8)"
        )
    return BUFFERS.copy(array)  # checked on the caller's array, then copied
