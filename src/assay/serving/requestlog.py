"""The model server's request log: every answered request (sampled by ``--log-sample``)
into the store's request log (docs/serving.md, "Request log").

On the request path ``record`` costs one random draw and one deque append: the arrays
are kept as they are, and the SDK's request-log writer (sdk/requestlog.py) turns them
into entries, journals them and delivers them from its own thread. A request of n rows
gives n entries, ``<id>`` for one row and ``<id>/0`` ... ``<id>/<n-1>`` for more; a request
refused before its rows were read gives one entry without inputs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.records import RequestEntry
from assay.sdk.requestlog import RequestLog
from assay.serving.metrics import LOG_DROPPED, LOG_ENTRIES

log = logging.getLogger("assay.serving")

DEFAULT_ARM = None  # what an entry's arm is when no traffic policy chose one
HEADER = "x-request-id"


def new_request_id() -> str:
    """32 random hex digits, as a uuid4's hex. From the process's Mersenne Twister (seeded
    from the OS at start and again in each forked child), not ``uuid.uuid4()``: that reads
    os.urandom, a system call per request, which showed as several per cent of the server's
    time at 32 clients (bench/serving.py). An id names a request; it guards nothing."""
    return f"{_bits(128):032x}"


_bits = random.getrandbits


class ServedLog:
    """One worker's request log: sampling in front of a RequestLog writer."""

    def __init__(self, uri: str, sample: float) -> None:
        self.sample = sample
        self.writer = RequestLog(uri, on_drop=lambda n: LOG_DROPPED.inc(n)).start()

    def record(
        self,
        model: str,
        version: str,
        *,
        status: int,
        seconds: float,
        request_id: str,
        rows: Mapping[str, np.ndarray] | None = None,
        count: int = 0,
        outputs: Mapping[str, np.ndarray] | None = None,
        arm: str | None = DEFAULT_ARM,
    ) -> None:
        """Queue one request's entries (never blocks; past the writer's limit they are
        dropped and counted in ``assay_serving_request_log_dropped_total``)."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        if rows is not None and count < 1:
            rows = None
        at = time.time() - seconds
        n = count if rows is not None else 1

        def build() -> list[RequestEntry]:
            inputs = _per_row(rows, count) if rows is not None else [{}]
            answers = _per_row(outputs, count) if outputs is not None else [{}] * len(inputs)
            ids = [request_id] if n == 1 else [f"{request_id}/{i}" for i in range(n)]
            return [
                RequestEntry(
                    model=model,
                    request_id=rid,
                    time=at,
                    version=version,
                    arm=arm,
                    status=status,
                    latency_ms=seconds * 1000.0,
                    inputs=given,
                    outputs=answer,
                )
                for rid, given, answer in zip(ids, inputs, answers, strict=True)
            ]

        nbytes = sum(a.nbytes for a in rows.values()) if rows is not None else 0
        if outputs is not None:
            nbytes += sum(a.nbytes for a in outputs.values())
        if self.writer.submit(n, build, nbytes=nbytes):
            LOG_ENTRIES.inc(n)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush what waits (the server is stopping); True when the store has it all."""
        return self.writer.close(timeout)


def _per_row(columns: Mapping[str, np.ndarray], count: int) -> list[dict[str, Any]]:
    """``{name: array of count rows}`` as one ``{name: value}`` per row (Python values)."""
    values = {name: _python(array) for name, array in columns.items()}
    return [{name: column[i] for name, column in values.items()} for i in range(count)]


def _python(array: np.ndarray) -> list[Any]:
    if array.dtype.kind in "Mm":  # datetimes travel as ISO text
        array = array.astype(str)
    values: list[Any] = array.tolist()
    return values
