"""``assay.Audio``: a waveform (numpy, float in [-1, 1] or int16; mono or samples x
channels) with its sample rate, stored as WAV; or an audio file, kept as it is."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.media.value import Encoded, Fetch, Lazy, Value, as_array, caption_of

if TYPE_CHECKING:
    from numpy.typing import NDArray

MAX_SAMPLES = 20_000_000  # 16-bit: 40 MB, under a server's 64 MiB request limit
MAX_FILE_BYTES = 48 * 1024 * 1024


class Audio(Value):
    kind = "audio"

    def __init__(self, data: Any, sample_rate: int | None = None, caption: str | None = None):
        self.caption = caption_of(caption, "audio")
        self._array: NDArray[Any] | None = None
        self._file: bytes | None = None
        self._stored: Lazy | None = None
        if isinstance(data, str | os.PathLike):
            path = Path(data)
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise InvalidInput(f"audio file {path} is over {MAX_FILE_BYTES} bytes")
                self._file = path.read_bytes()
            except OSError as exc:
                raise InvalidInput(f"cannot read audio file {path}: {exc}") from None
            self.format = path.suffix.lstrip(".").lower() or "wav"
            self.sample_rate = sample_rate
            return
        if type(sample_rate) is not int or sample_rate <= 0:
            raise InvalidInput("audio from an array needs sample_rate, a positive int")
        self.sample_rate = sample_rate
        self.format = "wav"
        self._array = _check(as_array(data, "audio"))

    @property
    def nbytes(self) -> int:
        return self._array.nbytes if self._array is not None else len(self._file or b"")

    def encode(self, out: Encoded) -> dict[str, Any]:
        if self._array is not None:
            data = _wav(self._array, self.sample_rate or 1)
        else:
            data = self._file if self._file is not None else self.data
        body: dict[str, Any] = {"digest": out.add(data), "format": self.format}
        if self.sample_rate is not None:
            body["sample_rate"] = self.sample_rate
        if self.caption is not None:
            body["caption"] = self.caption
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Audio:
        audio = cls.__new__(cls)
        audio.caption = body.get("caption")
        audio._array = audio._file = None
        audio._stored = Lazy(body["digest"], fetch)
        audio.format = body.get("format", "wav")
        audio.sample_rate = body.get("sample_rate")
        return audio

    @property
    def data(self) -> bytes:
        if self._stored is not None:
            return self._stored.data
        if self._file is not None:
            return self._file
        assert self._array is not None
        return _wav(self._array, self.sample_rate or 1)

    def to_numpy(self) -> NDArray[Any]:
        """A WAV's samples as int16 (samples, or samples x channels)."""
        import numpy as np

        if self.format != "wav":
            raise InvalidInput(f"only WAV audio reads back as an array, not {self.format}")
        with wave.open(io.BytesIO(self.data)) as reader:
            channels = reader.getnchannels()
            frames = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        return frames.reshape(-1, channels) if channels > 1 else frames

    def __repr__(self) -> str:
        return f"<Audio {self.format} {self.sample_rate} Hz>"


def _check(array: NDArray[Any]) -> NDArray[Any]:
    import numpy as np

    if array.ndim not in (1, 2) or array.size == 0 or array.size > MAX_SAMPLES:
        raise InvalidInput(f"audio must be 1-D or samples x channels; got shape {array.shape}")
    if array.dtype == np.int16:
        return array
    if array.dtype.kind != "f":
        raise InvalidInput(f"audio dtype {array.dtype} is not supported: use float or int16")
    low, high = float(array.min()), float(array.max())
    if np.isnan(low) or np.isnan(high) or low < -1.0 or high > 1.0:
        raise InvalidInput(f"float audio must lie in [-1, 1]; this one spans [{low}, {high}]")
    return array


def _wav(array: NDArray[Any], rate: int) -> bytes:
    import numpy as np

    samples = array if array.dtype == np.int16 else (array * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()
