"""Where a monitor reads traffic: a window of the serving request log as a DataFrame.

The request log's frame has one row per input row of each request: ``request_id``
(``<id>/<i>`` for the rows of a request of several), ``time`` (UTC datetimes),
``model``, ``version`` (str), ``arm``, ``status`` (int), ``latency_ms``, ``input.<name>``
per input column, ``output.<name>`` per output, ``label`` and ``labelled_at`` (late
labels joined by request id). ``RequestSource`` is all a monitor
needs of it; the SDK reads the store's log, and ``FrameSource`` serves a frame held in
memory (batch jobs that keep their own log, and tests).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

INPUT, OUTPUT = "input.", "output."
COLUMNS = ("request_id", "time", "model", "version", "arm", "status", "latency_ms", "label")


class RequestSource(Protocol):
    def read(self, model: str, *, since: datetime, until: datetime) -> Any:
        """The requests to ``model`` with ``since <= time < until``, as a DataFrame."""


class FrameSource:
    """A request log held in memory: a DataFrame with the request log's columns."""

    def __init__(self, frame: Any) -> None:
        missing = [c for c in ("time", "model", "version", "status") if c not in frame.columns]
        if missing:
            from assay.errors import InvalidInput

            raise InvalidInput(f"a request log needs the columns {', '.join(missing)}")
        self.frame = frame

    def read(self, model: str, *, since: datetime, until: datetime) -> Any:
        f = self.frame
        chosen = (f["model"] == model) & (f["time"] >= since) & (f["time"] < until)
        return f[chosen].reset_index(drop=True)


MAX_WIDTH = 4096  # a tensor input wider than this is not spread into columns


def inputs_of(frame: Any) -> Any:
    """The ``input.<name>`` columns, renamed to ``<name>``; a tensor input (every value a
    list of one length, as a model taking an [n, k] tensor logs) is spread into
    ``<name>[0]`` ... ``<name>[k-1]``, so each position is profiled and tested."""
    return _spread(_prefixed(frame, INPUT))


def _spread(frame: Any) -> Any:
    import pandas as pd

    parts = []
    for name in frame.columns:
        width = _width(frame[name])
        if width is None:
            parts.append(frame[[name]])
            continue
        wide = pd.DataFrame(frame[name].tolist(), index=frame.index)
        parts.append(wide.set_axis([f"{name}[{i}]" for i in range(width)], axis=1))
    return pd.concat(parts, axis=1) if parts else frame


def _width(column: Any) -> int | None:
    """k when every value of ``column`` is a flat list (or tuple) of k items, else None."""
    if column.dtype != object or len(column) == 0:
        return None
    widths = set()
    for value in column:
        if not isinstance(value, list | tuple) or any(isinstance(v, list | tuple) for v in value):
            return None
        widths.add(len(value))
        if len(widths) > 1:
            return None
    (width,) = widths
    return width if 0 < width <= MAX_WIDTH else None


def outputs_of(frame: Any) -> Any:
    """The ``output.<name>`` columns, renamed to ``<name>``."""
    return _prefixed(frame, OUTPUT)


def _prefixed(frame: Any, prefix: str) -> Any:
    names = [c for c in frame.columns if str(c).startswith(prefix)]
    return frame[names].rename(columns={c: str(c)[len(prefix) :] for c in names})
