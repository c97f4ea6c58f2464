"""Copies what the program prints into the run's log, line by line."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Any, TextIO

from assay.records import LogLines, Op
from assay.values import scrub_text

MAX_LINE = 10_000
MAX_WAITING = 10_000  # lines kept between writer cycles; beyond, the oldest are dropped


class _Tee:
    def __init__(self, stream: TextIO, name: str, sink: ConsoleCapture) -> None:
        self._stream = stream
        self._name = name
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        with contextlib.suppress(Exception):  # printing must never fail because of capture
            self._take(text)
        return written

    def _take(self, text: str) -> None:
        if "\n" not in text:
            self._partial += text
            return
        head, *middle, tail = (self._partial + text).split("\n")
        self._partial = tail
        for line in (head, *middle):
            self._sink.add(self._name, line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ConsoleCapture:
    """Wraps sys.stdout and sys.stderr; ``drain()`` gives a LogLines op per writer cycle."""

    def __init__(self) -> None:
        self._lines: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._saved: tuple[TextIO, TextIO] | None = None

    def add(self, stream: str, line: str) -> None:
        with self._lock:
            if len(self._lines) < MAX_WAITING:  # NUL and lone surrogates become U+FFFD
                self._lines.append((time.time(), stream, scrub_text(line[:MAX_LINE])))

    def start(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, "stdout", self)
        sys.stderr = _Tee(sys.stderr, "stderr", self)

    def stop(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None

    def drain(self) -> list[Op]:
        with self._lock:
            lines, self._lines = self._lines, []
        return [LogLines(lines=lines)] if lines else []
