"""The request log from Python: log batch inference, join labels, read it as a DataFrame.

    import assay
    ids = assay.monitoring.log("models:/churn@production", inputs=frame, outputs=preds)
    assay.models.log_labels("churn", ids, truth)       # later, when the truth is known
    df = assay.Api().requests("churn", since=yesterday)

``log`` goes through the same request-log writer as ``assay serve`` (sdk/requestlog.py): a
journal and a background thread, one per store per process, flushed at exit.
"""

from __future__ import annotations

import atexit
import datetime as dt
import threading
import time as clock
import uuid
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from assay.artifacts.uris import ModelRef, parse_ref
from assay.errors import InvalidInput, NotFound
from assay.extras import need
from assay.records import LabelResult, LoggedRequest, RequestEntry
from assay.sdk.requestlog import Builder, RequestLog
from assay.store.base import Store, open_store, resolve_uri

if TYPE_CHECKING:
    import pandas as pd

FIXED = ("request_id", "time", "model", "version", "arm", "status", "latency_ms")
Columns = dict[str, list[Any]]
CHUNK_ROWS = 10_000  # rows handed to the writer at once

_logs: dict[str, RequestLog] = {}
_logs_lock = threading.Lock()


# ---- writing -----------------------------------------------------------------------------


def log(
    model_ref: str,
    inputs: Any,
    outputs: Any,
    ids: Sequence[str] | None = None,
    *,
    version: str | int | None = None,
    time: float | dt.datetime | None = None,
    uri: str | None = None,
) -> list[str]:
    """Log predictions made outside ``assay serve`` into ``model_ref``'s request log.

    ``inputs`` and ``outputs``: a DataFrame, a dict of equal-length arrays, or one array
    (named ``input`` / ``output``; a 2-D array gives one list per row). ``ids``: one
    request id per row (default: new ones), returned for joining labels later.
    ``model_ref``: ``models:/name@alias`` or ``models:/name/3`` (the version is looked up
    now), or a bare model name with ``version=``. The entries are written by a background
    writer (``flush_requests()`` waits for them): the call returns once they are queued,
    waiting for room only when more than the writer's queue limit waits (never dropped)."""
    chosen = resolve_uri(uri)
    name, resolved = _model_version(chosen, model_ref, version)
    given_in, rows = _columns(inputs, "input", "inputs")
    given_out, out_rows = _columns(outputs, "output", "outputs")
    if rows != out_rows:
        raise InvalidInput(f"inputs have {rows} rows but outputs have {out_rows}")
    request_ids = _ids(ids, rows)
    at = _seconds(time) if time is not None else clock.time()

    def chunk(start: int, stop: int) -> Builder:
        def build() -> list[RequestEntry]:
            return [
                RequestEntry(
                    model=name,
                    request_id=request_ids[i],
                    time=at,
                    version=resolved,
                    arm=None,
                    status=200,
                    latency_ms=0.0,
                    rows=1,
                    inputs={k: v[i : i + 1] for k, v in given_in.items()},
                    outputs={k: v[i : i + 1] for k, v in given_out.items()},
                )
                for i in range(start, stop)
            ]

        return build

    writer = request_log(chosen)
    for start in range(0, rows, CHUNK_ROWS):  # a large table waits for room, never dropped
        stop = min(rows, start + CHUNK_ROWS)
        writer.submit(stop - start, chunk(start, stop), block=True)
    return request_ids


def request_log(uri: str) -> RequestLog:
    """This process's request-log writer for the store at ``uri`` (started once)."""
    with _logs_lock:
        found = _logs.get(uri)
        if found is None:
            found = _logs[uri] = RequestLog(uri).start()
            if len(_logs) == 1:
                atexit.register(close_all)
        return found


def flush_requests(timeout: float = 30.0) -> bool:
    """Wait until what ``log`` queued is in the store; False if some still waits."""
    with _logs_lock:
        logs = list(_logs.values())
    return all(each.flush(timeout) for each in logs)


def close_all() -> None:
    with _logs_lock:
        logs = list(_logs.values())
        _logs.clear()
    for each in logs:
        each.close()


def _model_version(uri: str, model_ref: str, version: str | int | None) -> tuple[str, str]:
    if not isinstance(model_ref, str) or not model_ref.strip():
        raise InvalidInput(f"model {model_ref!r} must be a model URI or a model name")
    if not model_ref.startswith("models:"):
        if version is None:
            raise InvalidInput(
                f"give version= for model {model_ref!r}, or a model URI "
                "(models:/name/3, models:/name@alias)"
            )
        return model_ref, str(version)
    parsed = parse_ref(model_ref)
    assert isinstance(parsed, ModelRef)
    if version is not None:
        return parsed.name, str(version)
    if parsed.selector.isdigit():
        return parsed.name, parsed.selector
    store = open_store(uri)
    try:
        return parsed.name, str(store.models.version(parsed.name, parsed.selector).version)
    finally:
        store.close()


def _columns(data: Any, default: str, what: str) -> tuple[Columns, int]:
    """Named columns of Python values (one per row) and the row count."""
    import numpy as np

    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        named = {str(c): data[c].to_numpy() for c in data.columns}
    elif isinstance(data, Mapping):
        named = {str(k): np.asarray(v) for k, v in data.items()}
    else:
        named = {default: np.asarray(data)}
    if not named:
        raise InvalidInput(f"{what} have no columns")
    sizes = {k: (v.shape[0] if v.ndim else -1) for k, v in named.items()}
    if min(sizes.values()) < 0 or len(set(sizes.values())) > 1:
        raise InvalidInput(f"{what} must be columns of equal length, got lengths {sizes}")
    return {k: v.tolist() for k, v in named.items()}, next(iter(sizes.values()))


def _ids(ids: Sequence[str] | None, rows: int) -> list[str]:
    if ids is None:
        return [uuid.uuid4().hex for _ in range(rows)]
    chosen = [str(i) for i in ids]
    if len(chosen) != rows:
        raise InvalidInput(f"{len(chosen)} ids for {rows} rows: give one id per row")
    if len(set(chosen)) != rows:
        raise InvalidInput("ids must be unique: each names one logged row")
    return chosen


def _seconds(value: float | dt.datetime | Any) -> float:
    """A time as unix seconds: a number, a datetime or Timestamp, or ISO 8601 text (naive
    means UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"time {value!r:.40} is not ISO 8601 text") from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidInput(f"a time must be unix seconds or a datetime, not {value!r:.40}")


# ---- labels ------------------------------------------------------------------------------


def log_labels(store: Store, name: str, ids: Sequence[str], labels: Sequence[Any]) -> LabelResult:
    """Join labels by request id; ids no entry has are returned in ``unknown``."""
    ids = [str(i) for i in ids]
    values = [label.item() if hasattr(label, "item") else label for label in labels]
    try:
        store.models.get(name)
    except NotFound:
        if not store.requests.list(name, limit=1):
            raise
    return store.requests.label(name, ids, values)


# ---- reading -----------------------------------------------------------------------------


def read(
    store: Store,
    model: str,
    *,
    version: str | int | None = None,
    arm: str | None = None,
    since: float | dt.datetime | str | None = None,
    until: float | dt.datetime | str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    found = store.requests.list(
        model,
        version=None if version is None else str(version),
        arm=arm,
        since=None if since is None else _seconds(since),
        until=None if until is None else _seconds(until),
        limit=limit,
    )
    rows = frame(found)  # the newest ``limit`` requests hold at least ``limit`` rows
    return rows if limit is None else rows.tail(limit).reset_index(drop=True)


def frame(entries: list[LoggedRequest]) -> pd.DataFrame:
    """The DataFrame of docs/serving.md's request log, one row per input row (a request
    refused before its rows were read: one row): the fixed columns, ``input.<name>`` per
    input, ``output.<name>`` per output (None/NaN where a request lacks it), ``label``
    (a row's own, else its request's) and ``labelled_at``. Built column by column."""
    need("pandas", "the request log as a DataFrame")
    import numpy as np
    import pandas as pd

    counts = np.array([max(e.rows, 1) for e in entries], dtype="int64")
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    row = np.arange(total, dtype="int64") - np.repeat(starts, counts)

    def each(values: list[Any], dtype: Any = object) -> np.ndarray:
        return np.repeat(np.array(values, dtype=dtype), counts)

    def seconds(values: np.ndarray) -> pd.DatetimeIndex:
        return pd.to_datetime(values, unit="s", utc=True)

    ids = pd.Series(each([e.request_id for e in entries]), dtype=object)
    several = np.repeat(counts > 1, counts)
    if several.any():
        ids[several] = ids[several] + "/" + pd.Series(row[several]).astype(str).to_numpy()
    fixed = pd.DataFrame(
        {
            "request_id": ids,
            "time": seconds(each([e.time for e in entries], "float64")),
            "model": pd.Series(each([e.model for e in entries]), dtype=object),
            "version": pd.Series(each([e.version for e in entries]), dtype=object),
            "arm": pd.Series(each([e.arm for e in entries]), dtype=object),
            "status": each([e.status for e in entries], "int64"),
            "latency_ms": each([e.latency_ms for e in entries], "float64"),
        }
    )
    label, at = _labels(entries, counts, starts, total)
    labels = pd.DataFrame({"label": pd.Series(label, dtype=object), "labelled_at": seconds(at)})
    inputs = _table([e.inputs for e in entries], counts, "input.")
    outputs = _table([e.outputs for e in entries], counts, "output.")
    return pd.concat([fixed, inputs, outputs, labels], axis=1)


def _labels(entries: list[LoggedRequest], counts: Any, starts: Any, total: int) -> tuple[Any, Any]:
    """Each row's label and when it was joined: the request's (row -1), overridden by the
    row's own."""
    import numpy as np

    label = np.full(total, None, dtype=object)
    at = np.full(total, np.nan, dtype="float64")
    for k in [k for k, entry in enumerate(entries) if entry.labels]:
        for joined in entries[k].labels:  # whole-request labels sort first
            first = int(starts[k])
            if joined.row < 0:
                label[first : first + int(counts[k])] = _cell(joined.label)
                at[first : first + int(counts[k])] = joined.at
            elif joined.row < counts[k]:
                label[first + joined.row] = joined.label
                at[first + joined.row] = joined.at
    return label, at


def _cell(value: Any) -> Any:
    """A value numpy fills a slice with as it is (a list would be spread along it)."""
    import numpy as np

    if isinstance(value, list | tuple):
        boxed = np.empty(1, dtype=object)
        boxed[0] = value
        return boxed
    return value


def _table(columns: list[dict[str, list[Any]]], counts: Any, prefix: str) -> pd.DataFrame:
    """One column per name any request has, in first-seen order, its values the requests'
    lists joined (None for a request without it); a value that is a list (a tensor's row)
    stays one cell."""
    import pandas as pd

    names = list(dict.fromkeys(chain.from_iterable(columns)))
    uniform = len(set(map(tuple, columns))) == 1  # every request has the same names

    def joined(name: str) -> list[Any]:
        if uniform:
            return list(chain.from_iterable(map(itemgetter(name), columns)))
        return list(
            chain.from_iterable(
                named.get(name) or [None] * int(n) for named, n in zip(columns, counts, strict=True)
            )
        )

    table = {f"{prefix}{name}": pd.Series(joined(name)) for name in names}
    return pd.DataFrame(table, index=pd.RangeIndex(int(counts.sum())))
