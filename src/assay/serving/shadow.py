"""Shadow traffic: copies of requests sent to a model's shadow arms in the background,
their answers counted and discarded.

A copy is a task of its own, started once the primary answer is ready, on the shadow
arm's own batcher (its own queue and predicting thread): a slow or failing shadow model
never delays or fails the primary answer. Copies are bounded: past ``MAX_PENDING`` copies
in flight per server a new copy is dropped (counted with status 503), and the shadow
arm's queue refuses copies the way it refuses requests when overloaded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from assay.errors import InvalidInput
from assay.serving.batching import Busy
from assay.serving.metrics import Metrics
from assay.serving.tensors import conform, row_count
from assay.serving.traffic import Arm, Routing, without_key

log = logging.getLogger("assay.serving")
MAX_PENDING = 1024


class Mirror:
    """The copies in flight in one worker."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.pending: set[asyncio.Task[None]] = set()
        self.warned: set[tuple[str, str, str]] = set()  # (model, arm, version) logged once

    def send(self, routing: Routing, given: dict[str, Any]) -> None:
        """Copy the request to the shadow arms drawn for it (none, mostly)."""
        for arm in routing.mirrors():
            model = arm.current
            if len(self.pending) >= MAX_PENDING:
                self.metrics.shadowed(routing.model, arm.name, model.version, 503, seconds=0.0)
                continue
            task = asyncio.get_running_loop().create_task(self._copy(routing, arm, given))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _copy(self, routing: Routing, arm: Arm, given: dict[str, Any]) -> None:
        model = arm.current
        started = time.perf_counter()
        try:
            rows = conform(model.signature, without_key(given, routing, model))
            await arm.batcher.submit(rows, row_count(rows), (), model)
            status = 200
        except Busy:
            status = 503
        except InvalidInput as exc:
            status = 400
            self._warn(routing.model, arm, model.version, str(exc))
        except Exception as exc:  # the shadow's failure is counted, never raised
            status = 500
            self._warn(routing.model, arm, model.version, f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - started
        self.metrics.shadowed(routing.model, arm.name, model.version, status, seconds=seconds)

    def _warn(self, name: str, arm: Arm, version: str, message: str) -> None:
        key = (name, arm.name, version)
        if key not in self.warned:  # once per arm and version: the counts say how often
            self.warned.add(key)
            log.warning(
                "%s: shadow arm %s (version %s) failed: %s", name, arm.name, version, message
            )

    async def stop(self) -> None:
        for task in list(self.pending):
            task.cancel()
        await asyncio.gather(*self.pending, return_exceptions=True)
