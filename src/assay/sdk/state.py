"""The process's active runs, and the hooks that end them well: an uncaught exception
marks them failed (killed for Ctrl-C), SIGTERM marks them killed, exit finishes them."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import traceback
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.sdk.run import Run

_active: list[Run] = []
_installed = False
_lock = threading.Lock()


def activate(run: Run, handle_signals: bool) -> None:
    global _installed
    with _lock:
        _active.append(run)
        if not _installed:
            _installed = True
            _install(handle_signals)


def remember(run: Run) -> None:
    """Make a disabled run the active one (``assay.log`` reaches it) without installing
    any hook: it has nothing to finish well."""
    with _lock:
        _active.append(run)


def forget(run: Run) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)


def current() -> Run | None:
    return _active[-1] if _active else None


def _finish_all(status: str, trace: str | None = None) -> None:
    for run in list(reversed(_active)):
        with contextlib.suppress(Exception):  # exiting: every run gets its chance to finish
            run.finish(status, traceback=trace)


def _install(handle_signals: bool) -> None:
    previous_hook = sys.excepthook

    def excepthook(
        kind: type[BaseException], exc: BaseException, trace: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            _finish_all("killed")
        else:
            _finish_all("failed", "".join(traceback.format_exception(kind, exc, trace)))
        previous_hook(kind, exc, trace)

    sys.excepthook = excepthook
    atexit.register(_finish_all, "finished")
    if handle_signals and threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm(previous))


def _on_sigterm(previous: Any) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        _finish_all("killed")
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        os.kill(os.getpid(), signum)

    return handler
