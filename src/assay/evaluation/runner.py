"""Calling the model on every item: a worker pool, per-call timeouts, an output cache on disk,
a progress bar, and Ray when asked.

Every call's outcome is kept: its output, its latency, or the error it raised (or the timeout
it hit). Nothing is dropped; the report counts and shows errors.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from assay import digests
from assay.digests import canonical
from assay.errors import InvalidInput
from assay.flavours.targets import Items, Target
from assay.progress import track

PER_ITEM_SHARE = 32  # items a worker takes at once from a one-item function


@dataclass(frozen=True)
class Call:
    output: Any = None
    latency_ms: float | None = None
    error: str | None = None
    cached: bool = False


@dataclass(frozen=True)
class Job:
    rows: list[int]  # indices into the item list
    repeat: int


def describe(exc: BaseException) -> str:
    """``ValueError: bad pixel`` plus where it was raised (the last frame), for the report."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def call_batch(call: Callable[[Items], list[Any]], batch: Items) -> list[Call]:
    start = time.perf_counter()
    try:
        outputs = list(call(batch))
    except Exception as exc:  # a model's failure is a result, recorded per item
        return [Call(error=describe(exc))] * len(batch)
    if len(outputs) != len(batch):
        error = f"ValueError: the model got {len(batch)} items and returned {len(outputs)} outputs"
        return [Call(error=error)] * len(batch)
    latency = (time.perf_counter() - start) * 1000 / len(batch)
    return [Call(output=out, latency_ms=latency) for out in outputs]


def call_items(call: Callable[[Items], list[Any]], batch: Items, per_item: bool) -> list[Call]:
    """A worker's share: one call for the batch, or (``per_item``) one call per item, each
    with its own latency and error."""
    if per_item:
        return [call_batch(call, [item])[0] for item in batch]
    return call_batch(call, batch)


# ---- output cache -------------------------------------------------------------------------------


class OutputCache:
    """Model outputs on disk: one msgpack file per (model key, params), mapping each item's
    inputs digest to its output and latency. Read once, written once (merged with what
    another process may have added meanwhile, then renamed into place). Files are used in
    least-recently-used order: past ``limit`` bytes in all, the oldest go."""

    def __init__(self, root: Path, target_key: str, params: dict[str, Any]) -> None:
        prefix = digests.of_value([target_key, params])
        self.root = root
        self.limit = cache_limit()
        self.path = root / prefix[:2] / f"{prefix}.msgpack"
        self.entries = self._read()
        self.added: dict[str, tuple[Any, float | None]] = {}

    def _read(self) -> dict[str, Any]:
        try:
            found = msgspec.msgpack.decode(self.path.read_bytes())
            os.utime(self.path)  # recently used
        except (OSError, msgspec.DecodeError):
            return {}
        return found if isinstance(found, dict) else {}

    def get(self, item_digest: str) -> Call | None:
        hit = self.entries.get(item_digest)
        if not isinstance(hit, list) or len(hit) != 2:
            return None
        return Call(output=hit[0], latency_ms=hit[1], cached=True)

    def put(self, item_digest: str, call: Call) -> None:
        if call.error is None:
            self.added[item_digest] = (call.output, call.latency_ms)

    def flush(self) -> None:
        if not self.added:
            return
        merged = {**self._read(), **{k: list(v) for k, v in self.added.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(canonical(merged))
            tmp.replace(self.path)
            self._evict()
        except OSError:
            pass  # a cache that cannot be written only costs a recomputation
        self.entries, self.added = merged, {}

    def _evict(self) -> None:
        """Delete the least recently used files (never this one) until the rest fit."""
        files = []
        for path in self.root.glob("*/*.msgpack"):
            try:
                found = path.stat()
            except FileNotFoundError:  # another process evicted it
                continue
            files.append((found.st_mtime, found.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files, key=lambda f: f[0]):
            if total <= self.limit:
                break
            if path != self.path:
                path.unlink(missing_ok=True)
                total -= size


CACHE_LIMIT = 2 << 30  # bytes of cached outputs kept; ASSAY_EVAL_CACHE_MB overrides


def cache_limit() -> int:
    text = os.environ.get("ASSAY_EVAL_CACHE_MB", "")
    if not text:
        return CACHE_LIMIT
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes >= 0):
        raise InvalidInput(f"ASSAY_EVAL_CACHE_MB={text!r} is not a number of megabytes")
    return int(megabytes * (1 << 20))


def cache_dir() -> Path:
    from assay.artifacts.artifact import cache_root

    return cache_root().parent / "eval-outputs"


# ---- execution ---------------------------------------------------------------------------------


def _in_threads(
    target: Target,
    items: Items,
    jobs: list[Job],
    workers: int,
    timeout: float | None,
    *,
    done: Callable[[Job, list[Call]], None],
) -> None:
    """Jobs on daemon threads. Written by hand rather than with concurrent.futures because a
    timed-out call cannot be killed: on daemon threads it is abandoned and does not hold up
    the interpreter's exit, as a ThreadPoolExecutor's worker would."""
    todo: queue.Queue[Job | None] = queue.Queue()
    results: queue.Queue[tuple[Job, list[Call]]] = queue.Queue()
    started: dict[int, tuple[Job, float]] = {}
    lock = threading.Lock()

    def work() -> None:
        while (job := todo.get()) is not None:
            with lock:
                started[id(job)] = (job, time.monotonic())
            batch = [items[i] for i in job.rows]
            results.put((job, call_items(target.call, batch, target.per_item)))

    for job in jobs:
        todo.put(job)
    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    remaining = {id(job) for job in jobs}
    checked = time.monotonic()

    def finish(job: Job, calls: list[Call]) -> None:
        if id(job) in remaining:
            remaining.discard(id(job))
            done(job, calls)

    while remaining:
        with suppress(queue.Empty):
            finish(*results.get(timeout=0.05))
        if timeout is not None and time.monotonic() - checked >= 0.05:
            checked = time.monotonic()
            for job, calls in _expired(started, remaining, timeout, lock):
                finish(job, calls)
                threads.append(threading.Thread(target=work, daemon=True))  # the stuck
                threads[-1].start()  # thread's place: the remaining jobs still run
    for _ in threads:
        todo.put(None)


def _expired(
    started: dict[int, tuple[Job, float]],
    remaining: set[int],
    timeout: float,
    lock: threading.Lock,
) -> list[tuple[Job, list[Call]]]:
    """Jobs running longer than ``timeout``, each with a timeout error per item."""
    now = time.monotonic()
    error = f"TimeoutError: no output after {timeout:g} s"
    with lock:
        late = [
            job
            for key, (job, began) in started.items()
            if key in remaining and now - began > timeout
        ]
    return [(job, [Call(error=error, latency_ms=timeout * 1000)] * len(job.rows)) for job in late]


def _on_ray(
    target: Target,
    items: Items,
    jobs: list[Job],
    timeout: float | None,
    done: Callable[[Job, list[Call]], None],
) -> None:
    """Each job as a Ray task; the model function travels to the cluster with the task."""
    try:
        import ray
    except ImportError:
        raise InvalidInput("running on Ray needs the ray extra: pip install 'assay[ray]'") from None
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True)
    remote = ray.remote(call_items)
    pending = [
        (job, remote.remote(target.call, [items[i] for i in job.rows], target.per_item))
        for job in jobs
    ]
    for job, ref in pending:
        try:
            calls = ray.get(ref, timeout=timeout)
        except Exception as exc:  # a lost worker or a timeout fails these items, not the run
            calls = [Call(error=describe(exc))] * len(job.rows)
        done(job, calls)


def run(
    target: Target,
    inputs: Items,
    digests: list[str],
    *,
    repeats: int = 1,
    workers: int = 4,
    timeout: float | None = None,
    cache: OutputCache | None = None,
    progress: bool | None = None,
    use_ray: bool = False,
) -> list[list[Call]]:
    """Outputs per item and repeat: ``result[i][k]`` is item i's k-th call. A ``cache`` is
    for one call per item (repeats sample afresh), as the evaluator passes it."""
    results: list[list[Call | None]] = [[None] * repeats for _ in inputs]
    todo: list[int] = []
    for index, item_digest in enumerate(digests):
        hit = cache.get(item_digest) if cache is not None else None
        if hit is not None:
            results[index][0] = hit
        else:
            todo.append(index)
    size = max(1, target.batch_size)
    if target.per_item and timeout is None:
        size = PER_ITEM_SHARE  # fewer hand-offs; with a timeout each call is its own job
    jobs = [
        Job(todo[start : start + size], repeat)
        for repeat in range(repeats)
        for start in range(0, len(todo), size)
    ]
    with track("evaluating", len(todo) * repeats, "items", progress) as advance:

        def done(job: Job, calls: list[Call]) -> None:
            for row, call in zip(job.rows, calls, strict=True):
                results[row][job.repeat] = call
                if cache is not None:
                    cache.put(digests[row], call)
            advance(len(job.rows))

        if use_ray:
            _on_ray(target, inputs, jobs, timeout, done)
        else:
            _in_threads(
                target=target, items=inputs, jobs=jobs, workers=workers, timeout=timeout, done=done
            )
    if cache is not None:
        cache.flush()
    return [[c if c is not None else Call(error="no result") for c in row] for row in results]
