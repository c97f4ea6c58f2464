"""Progress of long operations (transfers, evaluations), as a callback the shells render.

Domain code asks for a bar and calls what it gets with each amount done::

    with progress.track("upload", total, "bytes", show) as advance:
        advance(n)

It never draws anything itself: the process's renderer does. The default is quiet; the SDK
and the CLI install one that draws rich bars on a terminal (``install``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    """Opens a bar of ``total`` ``unit``s named ``label``; the context yields its advance.

    ``force`` draws it even where the renderer would not (not on a terminal)."""

    def __call__(
        self, label: str, total: int, unit: str, *, force: bool = False
    ) -> AbstractContextManager[Advance]: ...


@contextmanager
def quiet(label: str, total: int, unit: str, *, force: bool = False) -> Iterator[Advance]:
    """Shows nothing."""
    yield lambda _n: None


_renderer: Progress = quiet


def install(renderer: Progress) -> None:
    """Make ``renderer`` draw every bar this process opens from now on."""
    global _renderer
    _renderer = renderer


def installed() -> Progress:
    return _renderer


def track(label: str, total: int, unit: str, show: bool | None) -> AbstractContextManager[Advance]:
    """A bar through the installed renderer: ``show`` False is none, True forces one, None
    leaves it to the renderer (a bar on a terminal)."""
    if show is False:
        return quiet(label, total, unit)
    return _renderer(label, total, unit, force=show is True)
