"""Adaptive batching: requests for one model that arrive together are predicted in one call.

One task per model takes what is queued (in arrival order) and predicts it in a thread of
its own while the event loop goes on reading requests, which queue for the next call: the
busier the server, the bigger the batches, and an idle server predicts a lone request at
once. How many rows a call takes is chosen from the measured cost of calls (a fixed part
plus a part per row, fitted on the last calls) so that one call fits the latency budget,
never more than ``max_batch_size`` rows (a request bigger than that is predicted in
chunks of that size, alone).

A call that fails is retried request by request, so a bad row fails only its own request
(``InvalidInput``: a 400 naming the problem). A request that would wait longer than
``max_queue_s`` given the measured throughput, or finds the queue full, is refused at once
with ``Busy`` (503 with ``Retry-After``) instead of joining an ever longer queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from assay.errors import AssayError, InvalidInput
from assay.serving.cost import Cost, Limits
from assay.serving.loader import LoadedModel, Slot
from assay.serving.predictors import Outputs
from assay.serving.tensors import Rows, concat, take

log = logging.getLogger("assay.serving")


class Busy(AssayError):
    """The model's queue is full or would not be served in time; retry after a while."""

    code = "overloaded"
    status = 503

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Answer:
    outputs: Outputs
    model: LoadedModel  # the version that predicted these rows
    waited: float  # seconds in the queue


class Recorder(Protocol):
    """Where the batcher reports what it does (Prometheus in the server, nothing in tests)."""

    def batch(self, model: LoadedModel, rows: int, seconds: float) -> None: ...

    def waited(self, model: LoadedModel, seconds: float) -> None: ...

    def depth(self, name: str, rows: int) -> None: ...


class Silent:
    def batch(self, model: LoadedModel, rows: int, seconds: float) -> None:
        pass

    def waited(self, model: LoadedModel, seconds: float) -> None:
        pass

    def depth(self, name: str, rows: int) -> None:
        pass


@dataclass(slots=True, kw_only=True)
class Pending:
    rows: Rows
    count: int
    wanted: tuple[str, ...]
    future: asyncio.Future[Answer]
    enqueued: float
    model: LoadedModel  # the version the request was checked against, which predicts it


class Batcher:
    """The queue and the predicting task of one served model (in one worker)."""

    def __init__(self, slot: Slot, limits: Limits, recorder: Recorder | None = None) -> None:
        self.slot, self.limits = slot, limits
        self.recorder: Recorder = recorder or Silent()
        self.cost = Cost()
        if slot.current.warmed is not None:  # a first guess until calls are measured
            self.cost.add(*slot.current.warmed)
        self.queue: deque[Pending] = deque()
        self.queued_rows = 0
        self.wake = asyncio.Event()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"predict-{slot.target.name}")
        self.task: asyncio.Task[None] | None = None
        self.predicting = False  # a call is running (the batcher is not idle)

    @property
    def idle(self) -> bool:
        return not self.queue and not self.predicting

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.executor.shutdown(wait=False)

    async def submit(
        self,
        rows: Rows,
        count: int,
        wanted: Sequence[str] = (),
        model: LoadedModel | None = None,
    ) -> Answer:
        """Queue a request's rows, checked against ``model`` (default: the version serving
        now), which predicts them; their outputs once predicted (Busy, InvalidInput)."""
        self._admit(count)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        chosen = model or self.slot.current
        self.queue.append(
            Pending(
                rows=rows,
                count=count,
                wanted=tuple(wanted),
                future=future,
                enqueued=time.perf_counter(),
                model=chosen,
            )
        )
        self.queued_rows += count
        self.wake.set()
        return await future

    def _admit(self, count: int) -> None:
        ahead = self.queued_rows + count
        if self.queued_rows and ahead > self.limits.max_queue_rows:
            raise Busy(f"{self.slot.target.name}: {self.queued_rows} rows queued", 1)
        expected = self.cost.wait(ahead, self.limits)
        if self.queued_rows and expected > self.limits.max_queue_s:
            raise Busy(
                f"{self.slot.target.name} is overloaded: a request now would wait about "
                f"{expected * 1000:.0f} ms (budget {self.limits.max_queue_s * 1000:.0f} ms)",
                expected,
            )

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            await asyncio.sleep(0)  # requests already read join this call
            batch = self._take()
            if not batch:
                continue
            model = batch[0].model  # requests taken before a swap finish on the old version
            self.predicting = True
            try:
                results = await loop.run_in_executor(self.executor, self._run, model, batch)
            except Exception as exc:  # a fault of the server's own: answer, keep going
                log.exception("predicting a batch of %s failed", model.name)
                results = [exc] * len(batch)
            finally:
                self.predicting = False
            for pending, result in zip(batch, results, strict=True):
                if pending.future.done():  # the caller went away
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    def _take(self) -> list[Pending]:
        """The next call's requests, oldest first; ones that waited past the queue budget
        are refused instead (they would answer too late to be of use)."""
        limit = self.cost.limit(self.limits)
        now = time.perf_counter()
        batch: list[Pending] = []
        rows = 0
        while self.queue:
            first = self.queue[0]
            if batch and (rows + first.count > limit or first.model is not batch[0].model):
                break
            self.queue.popleft()
            self.queued_rows -= first.count
            if first.future.done():  # the caller went away
                continue
            if now - first.enqueued > self.limits.max_queue_s:
                first.future.set_exception(
                    Busy(f"{self.slot.target.name}: waited past the queue budget", 1)
                )
                continue
            batch.append(first)
            rows += first.count
        self.recorder.depth(self.slot.target.name, self.queued_rows)
        return batch

    def _run(self, model: LoadedModel, batch: list[Pending]) -> list[Answer | Exception]:
        started = time.perf_counter()
        for pending in batch:
            self.recorder.waited(model, started - pending.enqueued)
        wanted = tuple(dict.fromkeys(w for p in batch for w in p.wanted))
        try:
            outputs = self._predict(model, concat([p.rows for p in batch]), wanted)
        except Exception as exc:
            if len(batch) == 1:
                return [_failure(model, exc)]
            return [self._alone(model, p, started) for p in batch]
        answers: list[Answer | Exception] = []
        offset = 0
        for pending in batch:
            part = take(outputs, offset, offset + pending.count)
            answers.append(Answer(part, model, started - pending.enqueued))
            offset += pending.count
        return answers

    def _alone(self, model: LoadedModel, pending: Pending, started: float) -> Answer | Exception:
        try:
            outputs = self._predict(model, pending.rows, pending.wanted)
        except Exception as exc:
            return _failure(model, exc)
        return Answer(outputs, model, started - pending.enqueued)

    def _predict(self, model: LoadedModel, rows: Rows, wanted: tuple[str, ...]) -> Outputs:
        """One call per ``max_batch_size`` rows; every output checked to give one row per
        input row. Measures each call for the cost model."""
        total = _count(rows)
        size = self.limits.max_batch_size
        parts: list[Outputs] = []
        for start in range(0, total, size):
            chunk = take(rows, start, start + size) if total > size else rows
            began = time.perf_counter()
            out = model.predictor.predict(chunk, wanted or model.predictor.outputs[:1])
            seconds = time.perf_counter() - began
            _check(out, _count(chunk))
            self.cost.add(_count(chunk), seconds)
            self.recorder.batch(model, _count(chunk), seconds)
            parts.append(out)
        return concat(parts)


def _count(rows: Rows) -> int:
    return int(next(iter(rows.values())).shape[0])


def _check(outputs: Outputs, rows: int) -> None:
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != rows:
            raise RuntimeError(f"output {name!r} has {array.shape} for {rows} input rows")


def _failure(model: LoadedModel, exc: Exception) -> Exception:
    if isinstance(exc, InvalidInput):
        return exc
    return InvalidInput(
        f"model {model.name!r} version {model.version} failed on this input: "
        f"{type(exc).__name__}: {exc}"
    )
