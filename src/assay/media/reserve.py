"""Memory made ready ahead of time for the copies rich values keep while they wait.

An image logged at a step is copied at once (the caller may change its array) and waits
for the writer to encode it. When the writer is behind, every such copy needs memory the
process has never touched, and touching it costs a page fault per 4 KiB: on a virtual
machine several microseconds each, far more than the copy. A background thread maps slabs
with ``MAP_POPULATE``, which backs a whole slab in one system call (about a third of the
faults' cost, with the GIL released), so a copy lands in memory that is already there and
the cost moves off the training loop to the other core.

Written by hand: no library offers a prefaulted arena for numpy buffers. Linux only (where
``mmap.MAP_POPULATE`` exists); elsewhere ``take`` returns None and copies allocate as usual.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_ALIGN = 64


class Reserve:
    """Slabs of populated memory cut into array-sized pieces. At most ``ahead`` slabs wait
    ready; a piece keeps its slab alive until every piece of it is gone. Pieces are for
    copies between ``smallest`` bytes (below that, malloc reuses memory well) and a
    quarter of a slab."""

    def __init__(self, slab: int = 16 * 1024 * 1024, ahead: int = 2) -> None:
        self.slab = slab
        self.ahead = ahead
        self.smallest = 64 * 1024
        self._ready: deque[mmap.mmap] = deque()
        self._current: mmap.mmap | None = None
        self._offset = 0
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._owner = 0  # the pid whose thread fills the reserve (none after a fork)

    def take(self, nbytes: int) -> NDArray[Any] | None:
        """``nbytes`` of populated memory as a uint8 array, or None when none is ready
        (the caller allocates as usual; the thread is asked for more)."""
        if not _POPULATE or not self.smallest <= nbytes <= self.slab // 4:
            return None
        with self._lock:
            if self._current is None or self._offset + nbytes > self.slab:
                self._current = self._ready.popleft() if self._ready else None
                self._offset = 0
                self._fill()
                if self._current is None:
                    return None
            slab, offset = self._current, self._offset
            self._offset += -(-nbytes // _ALIGN) * _ALIGN
        import numpy as np

        return np.frombuffer(slab, dtype=np.uint8, count=nbytes, offset=offset)

    def _fill(self) -> None:
        """Wake the thread that maps slabs, starting it in this process if needed."""
        if self._owner != os.getpid():
            self._owner = os.getpid()
            self._ready.clear()
            self._wanted = threading.Event()
            threading.Thread(target=self._run, name="assay-media-reserve", daemon=True).start()
        self._wanted.set()

    def _run(self) -> None:
        wanted = self._wanted
        while True:
            wanted.wait()
            wanted.clear()
            while len(self._ready) < self.ahead:
                flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _POPULATE
                try:
                    slab = mmap.mmap(-1, self.slab, flags=flags)
                except OSError:  # no memory to spare: copies allocate as usual
                    break
                with self._lock:
                    self._ready.append(slab)


RESERVE = Reserve()
