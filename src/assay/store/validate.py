"""What a store accepts in a batch, checked once where a batch enters it (``write_batch``),
before anything is written, so SQLite and PostgreSQL behave alike and bad input is an
``InvalidInput`` naming the field (a 400 from a server), never a database error.

* Text the user chose (run name, tags, notes, group, job type, config and summary keys
  and strings) may not hold a NUL character or a lone surrogate: PostgreSQL cannot store
  them. Text Assay captured itself (console output, tracebacks, host facts) has them
  replaced by U+FFFD instead: no one chose it.
* Non-finite floats in a config, summary or host tree become the strings ``"nan"``,
  ``"inf"`` and ``"-inf"``, as the SDK already sends them (JSON has no NaN);
  integers must fit 64 bits (signed, or unsigned as msgpack carries them).
* Times are finite, not before 1970 and not more than a day ahead of the store's clock
  (nor past the year 9999); points are checked with numpy, one pass per column.
* Point bytes hold whole 8-byte items, as many steps as times and values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np

from assay.errors import InvalidInput
from assay.records import (
    FLOAT,
    RUN_STATUSES,
    Batch,
    BlobData,
    CreateRun,
    Heartbeat,
    LogLines,
    Media,
    Op,
    Points,
    UpdateRun,
)
from assay.values import check_key, check_project, check_tags, check_text

ID_LENGTH = 32  # run ids and writer ids (the columns' width)
MAX_SEQ = 2**63 - 1
INT_RANGE = (-(2**63), 2**64 - 1)
FUTURE_SLACK = 86400.0  # a client clock may run ahead of the store's by up to a day
LAST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
MAX_DEPTH = 100  # levels of nesting in a config, summary or host tree
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_MEDIA_BODY = 8 * 1024 * 1024  # characters of a media body's JSON
MAX_MEDIA_BLOBS = 20_000  # blobs one media record names (a table's images)


def clean_batch(batch: Batch, now: float) -> Batch:
    """The batch as it may be stored, or InvalidInput naming what cannot be."""
    _check_id("run id", batch.run_id)
    _check_id("writer", batch.writer)
    if type(batch.seq) is not int or not 0 <= batch.seq <= MAX_SEQ:
        raise InvalidInput(f"batch seq {batch.seq!r:.40} must be an integer from 0 to 2**63-1")
    latest = min(now + FUTURE_SLACK, LAST_TIME)
    ops = [_clean_op(op, latest) for op in batch.ops]
    _check_point_times([op for op in batch.ops if isinstance(op, Points)], latest)
    if all(new is old for new, old in zip(ops, batch.ops, strict=True)):
        return batch
    return Batch(run_id=batch.run_id, writer=batch.writer, seq=batch.seq, ops=ops)


def _check_id(what: str, value: object) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= ID_LENGTH or _CONTROL.search(value):
        raise InvalidInput(
            f"{what} {value!r:.60} must be 1-{ID_LENGTH} characters without control characters"
        )
    user_text(what, value)


def _clean_op(op: Op, latest: float) -> Op:
    if isinstance(op, Points):
        check_points(op)
        return op
    if isinstance(op, CreateRun):
        return _clean_create(op, latest)
    if isinstance(op, UpdateRun):
        return _clean_update(op, latest)
    if isinstance(op, LogLines):
        return _clean_lines(op, latest)
    if isinstance(op, Heartbeat):
        check_time("heartbeat time", op.at, latest)
        return op
    if isinstance(op, Media):
        check_media(op, latest)
        return op
    if isinstance(op, BlobData):
        raise InvalidInput("blob bytes are stored through store.blobs, not inside a batch")
    raise InvalidInput(f"unknown operation {type(op).__name__}")


def check_media(op: Media, latest: float) -> None:
    """A rich value's record: its key, step and time; a short kind; a JSON body without
    NaN or NUL, of bounded size; the digests it names."""
    check_key(op.key)
    if type(op.step) is not int or not 0 <= op.step <= MAX_SEQ:
        raise InvalidInput(f"media {op.key!r}: step {op.step!r:.40} must be from 0 to 2**63-1")
    check_time(f"media {op.key!r} time", op.at, latest)
    if not isinstance(op.kind, str) or not _KIND.match(op.kind):
        raise InvalidInput(f"media {op.key!r}: kind {op.kind!r:.40} is not a media kind")
    try:
        text = json.dumps(op.body, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"media {op.key!r}: the body is not plain JSON ({exc})") from None
    if len(text) > MAX_MEDIA_BODY or "\\u0000" in text or _SURROGATE.search(text):
        raise InvalidInput(
            f"media {op.key!r}: the body is over {MAX_MEDIA_BODY} bytes or holds a NUL "
            "character or a lone surrogate"
        )
    if len(op.blobs) > MAX_MEDIA_BLOBS or not all(
        isinstance(d, str) and _DIGEST.match(d) for d in op.blobs
    ):
        raise InvalidInput(f"media {op.key!r}: blobs must be at most {MAX_MEDIA_BLOBS} digests")


def _clean_create(op: CreateRun, latest: float) -> CreateRun:
    check_project(op.project)
    check_time("created_at", op.created_at, latest)
    user_text("run name", check_text("run name", op.name))
    _clean_tags(op.tags)
    user_text("notes", op.notes)
    user_text("group", check_text("group", op.group))
    user_text("job type", check_text("job type", op.job_type, 64))
    return msgspec.structs.replace(
        op,
        config=user_tree("config", op.config),
        host=captured_tree("host", op.host),
    )


def _clean_update(op: UpdateRun, latest: float) -> UpdateRun:
    check_time("update time", op.at, latest)
    if op.tags is not None:
        _clean_tags(op.tags)
    if op.status is not None and op.status not in RUN_STATUSES:
        raise InvalidInput(f"status {op.status!r:.40} is not one of {', '.join(RUN_STATUSES)}")
    user_text("notes", op.notes)
    changes: dict[str, Any] = {}
    for field in ("config", "summary"):
        if (tree := getattr(op, field)) is not None:
            changes[field] = user_tree(field, tree)
    if op.host is not None:
        changes["host"] = captured_tree("host", op.host)
    if op.traceback is not None:
        changes["traceback"] = captured_text("traceback", op.traceback)
    return msgspec.structs.replace(op, **changes) if changes else op


def _clean_tags(tags: list[str]) -> None:
    check_tags(tags)
    for tag in tags:
        user_text("tag", tag)


def _clean_lines(op: LogLines, latest: float) -> LogLines:
    if not op.lines:
        return op
    try:
        times = np.array([line[0] for line in op.lines], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise InvalidInput(f"log lines must be (time, stream, text) triples: {exc}") from None
    _check_times("log line time", times, latest)
    lines = []
    for at, stream, text in op.lines:
        if stream not in ("stdout", "stderr"):
            raise InvalidInput(f"log stream {stream!r:.40} is not stdout or stderr")
        lines.append((at, stream, captured_text("log line", text)))
    return LogLines(lines=lines)


# ---- times and points ---------------------------------------------------------------------------


def check_time(what: str, value: object, latest: float) -> float:
    """A wall-clock time in seconds since 1970 that a clock could have shown."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        if 0.0 <= value <= latest:  # NaN fails too
            return float(value)
        shown = repr(value)
    else:
        shown = type(value).__name__
    raise InvalidInput(
        f"{what} {shown:.40} is not a possible time (seconds since 1970, finite, "
        "at most a day ahead of the store's clock)"
    )


def _check_times(what: str, times: np.ndarray, latest: float) -> None:
    low, high = times.min(), times.max()
    if not (low >= 0.0 and high <= latest):  # NaN and infinities fail these
        bad = low if not low >= 0.0 else high
        raise InvalidInput(
            f"{what} {float(bad)!r} is not a possible time (seconds since 1970, finite, "
            "at most a day ahead of the store's clock)"
        )


def check_points(op: Points) -> None:
    """Whole 8-byte items, one time and one value per step."""
    check_key(op.key)
    sizes = (len(op.steps), len(op.times), len(op.values))
    if any(size % 8 for size in sizes):
        raise InvalidInput(
            f"points of {op.key!r}: steps, times and values must be whole 8-byte items "
            f"(got {sizes[0]}, {sizes[1]} and {sizes[2]} bytes)"
        )
    if not sizes[0] == sizes[1] == sizes[2]:
        raise InvalidInput(
            f"points of {op.key!r}: steps, times and values differ in length "
            f"({sizes[0] // 8}, {sizes[1] // 8} and {sizes[2] // 8})"
        )


def _check_point_times(ops: list[Points], latest: float) -> None:
    """Every point time of a batch at once (two numpy reductions, however many keys);
    only when one is impossible are the keys looked at one by one, to name it."""
    joined = b"".join(op.times for op in ops)
    if not joined:
        return
    times = np.frombuffer(joined, dtype=FLOAT)
    if times.min() >= 0.0 and times.max() <= latest:  # NaN fails these
        return
    for op in ops:
        if op.times:
            _check_times(f"times of {op.key!r}:", np.frombuffer(op.times, dtype=FLOAT), latest)


# ---- text and trees -----------------------------------------------------------------------------


def user_text(what: str, value: str | None) -> None:
    """Refuse text that cannot be stored: a NUL character or a lone surrogate."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character")
    if not value.isascii() and _SURROGATE.search(value):
        raise InvalidInput(f"{what} is not valid Unicode (it holds a lone surrogate)")


def storable_text(value: object) -> bool:
    """Whether ``user_text`` accepts ``value`` as text (it is a string, without a NUL or
    a lone surrogate): the quick test before it, which names what is wrong."""
    return (
        type(value) is str
        and "\x00" not in value
        and (value.isascii() or _SURROGATE.search(value) is None)
    )


def user_strings(path: str, value: object, depth: int = 0) -> None:
    """Refuse a NUL or a lone surrogate in any key or string of a JSON-like value (an
    artifact's metadata, a model's tags, an evaluation report), whatever else it holds:
    both backends then refuse the same values, naming where."""
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{path} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        user_text(path, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                user_text(f"{path}: key {key!r:.40}", key)
            user_strings(f"{path}.{key}", item, depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            user_strings(f"{path}[{i}]", item, depth + 1)


def captured_text(what: str, value: object) -> str:
    """Captured text made storable: NUL and lone surrogates become U+FFFD."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, not {type(value).__name__}")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value


def user_tree(path: str, tree: object) -> dict[str, Any]:
    """A config or summary: strings and keys checked, non-finite floats as strings."""
    return _mapping(tree, path, repair=False)


def captured_tree(path: str, tree: object) -> dict[str, Any]:
    """Host facts: like a config, but text that cannot be stored is repaired."""
    return _mapping(tree, path, repair=True)


def _mapping(tree: object, path: str, repair: bool, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{path} is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(tree, Mapping):
        raise InvalidInput(f"{path} must be a mapping, not {type(tree).__name__}")
    out: dict[str, Any] = {}
    for key, item in tree.items():
        if not isinstance(key, str):
            raise InvalidInput(f"{path}: key {key!r:.40} must be a string")
        if repair:
            key = captured_text(path, key)
        else:
            user_text(f"{path}: key {key!r:.40}", key)
        out[key] = _leaf(item, f"{path}.{key}", repair, depth + 1)
    return out


def _leaf(value: object, path: str, repair: bool, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if repair:
            return captured_text(path, value)
        user_text(path, value)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(float(value))
    if isinstance(value, int):
        if not INT_RANGE[0] <= value <= INT_RANGE[1]:
            raise InvalidInput(f"{path}: the integer is too big to store (outside 64 bits)")
        return value
    if isinstance(value, Mapping):
        return _mapping(value, path, repair, depth)
    if isinstance(value, list | tuple):
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{path} is nested deeper than {MAX_DEPTH} levels")
        return [_leaf(item, f"{path}[{i}]", repair, depth + 1) for i, item in enumerate(value)]
    raise InvalidInput(f"{path}: cannot store a {type(value).__name__} ({value!r:.40})")
