"""Where a monitor reads traffic: a window of the serving request log as a DataFrame.

The request log's frame has one row per request: ``request_id``, ``time`` (UTC
datetimes), ``model``, ``version`` (str), ``arm``, ``status`` (int), ``latency_ms``,
``input.<name>`` per input column, ``output.<name>`` per output, ``label`` and
``labelled_at`` (late labels joined by request id). ``RequestSource`` is all a monitor
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


def inputs_of(frame: Any) -> Any:
    """The ``input.<name>`` columns, renamed to ``<name>``."""
    return _prefixed(frame, INPUT)


def outputs_of(frame: Any) -> Any:
    """The ``output.<name>`` columns, renamed to ``<name>``."""
    return _prefixed(frame, OUTPUT)


def _prefixed(frame: Any, prefix: str) -> Any:
    names = [c for c in frame.columns if str(c).startswith(prefix)]
    return frame[names].rename(columns={c: str(c)[len(prefix) :] for c in names})
