"""What every rich value shares: its kind, what it costs in memory while it waits, how it
becomes bytes (``encode``) and how a stored one comes back (``from_body``)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from assay import digests
from assay.errors import InvalidInput
from assay.media.reserve import RESERVE

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Fetch = Callable[[str], bytes]  # a blob's bytes by digest (store.blobs.get)


@dataclass(kw_only=True)
class Encoded:
    """A value as stored: a JSON body and the blobs it names, by digest."""

    body: dict[str, Any]
    blobs: dict[str, bytes] = field(default_factory=dict)

    def add(self, data: bytes) -> str:
        digest = digests.of_bytes(data)
        self.blobs[digest] = data
        return digest


class Value(ABC):
    """A rich value for ``run.log``. Subclasses check and copy their input when made."""

    kind: ClassVar[str]

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Roughly what the value holds in memory until it is encoded."""

    @abstractmethod
    def encode(self, out: Encoded) -> dict[str, Any]:
        """Add the value's blobs to ``out`` and return its body."""

    @classmethod
    @abstractmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Value:
        """The value a stored body describes; blobs are fetched when first needed."""


class Lazy:
    """A stored blob, fetched once, when first read."""

    def __init__(self, digest: str, fetch: Fetch) -> None:
        self.digest = digest
        self._fetch = fetch
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._fetch(self.digest)
        return self._data


def as_array(value: object, what: str, copy: bool = True) -> NDArray[Any]:
    """A numpy copy of an array-like (numpy, torch and jax arrays, nested lists); with
    ``copy=False``, a view where one can be had (check it, then ``BUFFERS.copy`` it)."""
    import numpy as np

    if type(value).__module__.startswith("torch"):  # off the graph and the device first
        value = value.detach().cpu()  # type: ignore[attr-defined]
    try:
        return np.array(value, copy=True) if copy else np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what}: cannot read {type(value).__name__} as an array ({exc})"
        ) from None


class Buffers:
    """Copy buffers recycled once their value is encoded. Copying an image into memory
    the process touched before costs a memcpy; into fresh memory it costs a page fault
    per 4 KiB as well (several times the copy), so a loop logging an image every step
    reuses the buffers the writer has finished with, and takes new ones from memory made
    ready ahead of time (assay.media.reserve). At most ``limit`` bytes are kept."""

    def __init__(self, limit: int = 64 * 1024 * 1024) -> None:
        self.limit = limit
        self._free: dict[tuple[Any, ...], list[NDArray[Any]]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def copy(self, view: NDArray[Any]) -> NDArray[Any]:
        import numpy as np

        key = (view.shape, view.dtype.str)
        with self._lock:
            spare = self._free.get(key)
            buffer = spare.pop() if spare else None
            if buffer is not None:
                self._bytes -= buffer.nbytes
        if buffer is None:
            piece = RESERVE.take(view.nbytes)
            if piece is None:
                return np.array(view, copy=True, order="C")
            buffer = piece.view(view.dtype).reshape(view.shape)
        np.copyto(buffer, view)
        return buffer

    def give(self, buffer: NDArray[Any]) -> None:
        with self._lock:
            if self._bytes + buffer.nbytes > self.limit:
                return
            self._free.setdefault((buffer.shape, buffer.dtype.str), []).append(buffer)
            self._bytes += buffer.nbytes


BUFFERS = Buffers()


def caption_of(caption: object, what: str) -> str | None:
    if caption is None:
        return None
    if not isinstance(caption, str) or len(caption) > 4096 or "\x00" in caption:
        raise InvalidInput(f"{what} caption must be a string of at most 4096 characters")
    return caption


def finite(array: np.ndarray[Any, Any], what: str) -> None:
    import numpy as np

    if array.size and not np.isfinite(array).all():
        raise InvalidInput(f"{what} holds NaN or infinite values")
