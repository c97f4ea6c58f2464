"""Where the SDK's spans go: one tracer per store URI, a background ``Writer`` over a
journal of its own (``<journal root>/traces/<writer>.jnl``), exactly as a run's metrics
travel. Recording a span only appends to a deque; the writer's thread journals it
(fsync'd) and delivers it to ``store.traces``. An unreachable store never reaches the
application: spans wait in the journal and are retried with backoff, and ``assay sync``
delivers a journal a dead process left. Delivery is idempotent (a span id is stored
once), so replaying a journal is harmless.
"""

from __future__ import annotations

import atexit
import contextlib
import threading

from assay.ids import new_writer_id
from assay.records import Span, Spans
from assay.sdk import journal as jnl
from assay.sdk.init import destination
from assay.sdk.journal import JournalWriter
from assay.sdk.writer import TRACER, Writer, journal_path
from assay.store.base import journal_root, open_store, resolve_uri

FLUSH_INTERVAL = 0.2  # seconds between two batches of spans
CLOSE_TIMEOUT = 10.0  # how long the process's exit waits for an unreachable store

_tracers: dict[str, Writer] = {}
_lock = threading.Lock()


def _writer(uri: str, project: str) -> Writer:
    writer_id = new_writer_id()
    journal = JournalWriter(journal_path(journal_root(uri), "traces", writer_id))
    # on failure the spans still travel; only `assay sync` of a leftover journal needs --to
    with contextlib.suppress(OSError):
        jnl.write_meta(journal.path, destination(uri), TRACER + project, project)
    writer = Writer(
        TRACER + project, writer_id, journal, lambda: open_store(uri), interval=FLUSH_INTERVAL
    )
    writer.heartbeat_every = float("inf")  # no run to keep alive
    writer.start()
    return writer


def record(span: Span, uri: str | None = None) -> None:
    """Hand a finished span to its store's tracer (started on first use); never blocks
    on the store."""
    resolved = resolve_uri(uri)
    writer = _tracers.get(resolved)
    if writer is None:
        with _lock:
            writer = _tracers.get(resolved)
            if writer is None:
                writer = _tracers[resolved] = _writer(resolved, span.project)
                if len(_tracers) == 1:
                    atexit.register(close)
    writer.add_op(Spans(spans=[span]))


def flush_traces(timeout: float | None = 30.0) -> bool:
    """Wait until every span recorded so far is journaled and its delivery was tried;
    True when the stores have them all (else they wait in the journal, retried)."""
    return all([writer.flush(timeout) for writer in list(_tracers.values())])


def close(timeout: float = CLOSE_TIMEOUT) -> bool:
    """Deliver what waits (trying an unreachable store until ``timeout``) and stop the
    tracers; what is not delivered stays in the journal for ``assay sync``."""
    with _lock:
        writers = list(_tracers.values())
        _tracers.clear()
    return all([writer.close(timeout) for writer in writers])
