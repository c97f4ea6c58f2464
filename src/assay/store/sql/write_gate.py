"""The write transactions a process has under way on one SQLite file, and a way for the
process's checkpointing thread to hold new ones back for a moment while none is.

A PASSIVE checkpoint copies the WAL as it stood when the checkpoint began; a writer
that commits meanwhile leaves frames behind it, and a writer whose transaction began
before the copy was done appends to the WAL instead of starting it over. Under
sustained writes both happen at every checkpoint, so the WAL would never start over.
The checkpointing thread therefore copies what is left once in a while with this
process's writers held at the gate: none is under way, none begins, so the copy is
complete, and the next writer, which begins after it, starts the WAL over (SQLite does
that by itself when the WAL is all copied and no reader still uses it). Writers of other
processes are not held: a copy they overtake is merely incomplete, as without the gate.

Hand-written rather than a library's readers-writer lock: the holder here must not wait
for the writers under way longer than a bound, and gives up when they take longer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteGate:
    """Write transactions pass through ``writing``; ``held`` keeps new ones out."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Open, nothing under way (at start, and in a forked child)."""
        self._changed = threading.Condition(threading.Lock())
        self._writing = 0  # transactions under way
        self._held = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One write transaction, begun once the gate is open."""
        changed = self._changed
        with changed:
            while self._held:
                changed.wait()
            self._writing += 1
        try:
            yield
        finally:
            with changed:
                self._writing -= 1
                changed.notify_all()

    @contextmanager
    def held(self, wait: float) -> Iterator[bool]:
        """New transactions wait until this ends; it yields whether those under way
        ended within ``wait`` seconds (False: they go on, and the holder should leave
        at once rather than hold the others back longer)."""
        changed = self._changed
        with changed:
            self._held = True
            idle = changed.wait_for(lambda: self._writing == 0, wait)
        try:
            yield idle
        finally:
            with changed:
                self._held = False
                changed.notify_all()
