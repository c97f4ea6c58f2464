"""Group commit: writes of one kind that arrive while one of them is being committed
wait, then go in together, in one transaction, so that many small concurrent writes (an
OTLP exporter per process, eight of them at once) pay for one commit instead of one each.

There is no thread of its own: the first caller to find no transaction under way leads,
taking every waiting write (up to a limit) into its transaction; the others wait on a
condition and are answered when the transaction that held their write has committed, or
with its error. A write is answered only once it is committed. When a transaction of
several writes fails for something other than the store's condition (a value one write
holds), each of its writes is tried again alone, so one bad write fails only itself.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from assay.errors import StoreUnavailable, StoreUnusable

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Waiting(Generic[T, R]):
    item: T
    size: int
    key: str
    answer: R | None = None
    answered: bool = False
    error: BaseException | None = None
    done: bool = False


class GroupCommit(Generic[T, R]):
    """Runs ``commit(items)`` (one transaction, returning one answer per item: spans'
    counts, batches' applied flags) for the items waiting at once that share a key, at
    most ``limit`` in size together (a single item larger than that goes alone)."""

    def __init__(self, commit: Callable[[Sequence[T]], list[R]], limit: int) -> None:
        self._commit = commit
        self._limit = limit
        self._ready = threading.Condition()
        self._waiting: list[_Waiting[T, R]] = []
        self._busy = False

    def submit(self, item: T, size: int, key: str = "") -> R:
        """``item``'s answer, once the transaction that held it has committed."""
        mine: _Waiting[T, R] = _Waiting(item=item, size=size, key=key)
        with self._ready:
            self._waiting.append(mine)
            while not mine.done:
                if self._busy:
                    self._ready.wait()
                    continue
                self._busy = True
                group = self._take()
                self._ready.release()
                try:
                    self._run(group)
                finally:
                    self._ready.acquire()
                    self._busy = False
                    self._ready.notify_all()
        if mine.error is not None:
            raise _fresh_copy(mine.error)
        assert mine.answered
        return cast("R", mine.answer)

    def _take(self) -> list[_Waiting[T, R]]:
        """The oldest waiting write and those after it with its key, within the limit."""
        first = self._waiting[0]
        group, total = [first], first.size
        for waiting in self._waiting[1:]:
            if waiting.key == first.key and total + waiting.size <= self._limit:
                group.append(waiting)
                total += waiting.size
        taken = {id(w) for w in group}
        self._waiting = [w for w in self._waiting if id(w) not in taken]
        return group

    def _run(self, group: list[_Waiting[T, R]]) -> None:
        try:
            try:
                self._answer(group)
            except (StoreUnavailable, StoreUnusable) as exc:
                for waiting in group:
                    waiting.error = exc
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                else:
                    for waiting in group:  # alone, so only a bad write fails
                        try:
                            self._answer([waiting])
                        except Exception as alone:
                            waiting.error = alone
        finally:
            for waiting in group:
                if not waiting.answered and waiting.error is None:
                    waiting.error = StoreUnavailable("the write was interrupted")
                waiting.done = True

    def _answer(self, group: list[_Waiting[T, R]]) -> None:
        answers = self._commit([w.item for w in group])
        for waiting, answer in zip(group, answers, strict=True):
            waiting.answer = answer
            waiting.answered = True


def _fresh_copy(exc: BaseException) -> BaseException:
    """The error for one waiting caller: a copy without another thread's traceback."""
    try:
        return copy.copy(exc).with_traceback(None)
    except Exception:
        return exc
