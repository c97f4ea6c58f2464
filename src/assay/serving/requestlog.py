"""The model server's request log: every answered request (sampled by ``--log-sample``)
into the store's request log (docs/serving.md, "Request log").

On the request path ``record`` costs one random draw and one deque append: the arrays
are kept as they are, and the SDK's request-log writer (sdk/requestlog.py) turns them
into entries, journals them and delivers them from its own thread. A request gives one
entry however many rows it had, its inputs and outputs as columns: from PACKED_ROWS rows
on, a numeric, boolean or datetime array packed as it is (assay/packed.py: its bytes
copied, no Python value per row), any other one ``tolist``-ed; readers show its rows as
``<id>`` for one row and ``<id>/0`` ... ``<id>/<n-1>`` for more. A request refused
before its rows were read gives an entry without inputs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from assay.packed import pack
from assay.records import RequestEntry
from assay.sdk.requestlog import RequestLog
from assay.serving.metrics import LOG_DROPPED, LOG_ENTRIES

log = logging.getLogger("assay.serving")

DEFAULT_ARM = None  # what an entry's arm is when no traffic policy chose one
PACKED_ROWS = 64  # a request of at least this many rows packs its arrays; a list is cheaper below
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
        """Queue one request's entry (never blocks; past the writer's limit it is
        dropped and counted in ``assay_serving_request_log_dropped_total``)."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        if rows is not None and count < 1:
            rows = None
        at = time.time() - seconds

        def build() -> list[RequestEntry]:
            given = _columns(rows, count) if rows is not None else {}
            answered = _columns(outputs, count) if rows is not None and outputs else {}
            entry = RequestEntry(
                model=model,
                request_id=request_id,
                time=at,
                version=version,
                arm=arm,
                status=status,
                latency_ms=seconds * 1000.0,
                rows=count if rows is not None else 0,
                inputs=given,
                outputs=answered,
            )
            return [entry]

        nbytes = sum(a.nbytes for a in rows.values()) if rows is not None else 0
        if outputs is not None:
            nbytes += sum(a.nbytes for a in outputs.values())
        if self.writer.submit(1, build, nbytes=nbytes):
            LOG_ENTRIES.inc()

    def close(self, timeout: float = 10.0) -> bool:
        """Flush what waits (the server is stopping); True when the store has it all."""
        return self.writer.close(timeout)


def _columns(arrays: Mapping[str, np.ndarray], count: int) -> dict[str, Any]:
    """``{name: array of count rows}`` as ``{name: packed column}`` (from PACKED_ROWS
    rows), or ``{name: [Python value per row]}`` for fewer rows or an array that does not
    pack; an array of another length fails the build (that request alone is not
    logged)."""
    columns: dict[str, Any] = {}
    for name, array in arrays.items():
        if array.ndim == 0 or array.shape[0] != count:
            raise ValueError(f"{name!r} has {array.shape} values for {count} rows")
        packed = pack(array) if count >= PACKED_ROWS else None
        columns[name] = packed if packed is not None else _python(array)
    return columns


def _python(array: np.ndarray) -> list[Any]:
    if array.dtype.kind in "Mm":  # datetimes travel as ISO text
        array = array.astype(str)
    values: list[Any] = array.tolist()
    return values
