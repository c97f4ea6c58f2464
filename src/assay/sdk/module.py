"""Module-level twins of the Run methods, acting on the active run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.errors import InvalidInput
from assay.sdk import state
from assay.sdk.run import Run


def active_run() -> Run | None:
    """The run most recently started with ``assay.init`` and not yet finished."""
    return state.current()


def _require() -> Run:
    run = state.current()
    if run is None:
        raise InvalidInput("no active run: call assay.init() first")
    return run


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    _require().log(data, step=step)


def flush(timeout: float | None = None) -> bool:
    run = state.current()
    return True if run is None else run.flush(timeout)


def finish(status: str = "finished") -> bool:
    run = state.current()
    return True if run is None else run.finish(status)
