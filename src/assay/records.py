"""Plain data shared by every layer: what a store returns and what a journal carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "killed", "crashed")
FINAL_STATUSES: frozenset[str] = frozenset({"finished", "failed", "killed", "crashed"})


class Project(msgspec.Struct, frozen=True):
    name: str
    run_count: int
    created_at: float
    last_activity: float | None


class MetricSummary(msgspec.Struct, frozen=True):
    """What the runs table needs of a series without reading it."""

    last: float
    min: float
    max: float
    count: int
    last_step: int


class Run(msgspec.Struct, frozen=True):
    id: str
    project: str
    name: str
    status: str
    created_at: float
    updated_at: float
    heartbeat_at: float
    finished_at: float | None
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str]
    notes: str | None
    group: str | None
    job_type: str | None
    host: dict[str, Any]
    metrics: dict[str, MetricSummary]
    traceback: str | None = None


@dataclass(frozen=True)
class Columns:
    """One series as three parallel numpy columns, sorted by step, one point per step."""

    steps: NDArray[np.int64]
    times: NDArray[np.float64]
    values: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.steps)


# ---- journal operations -------------------------------------------------------------
# Every change a run makes travels as one of these, first to the journal, then to the
# store; a batch of them is applied in one transaction, identified by (run, writer, seq).


class CreateRun(msgspec.Struct, tag="create_run", frozen=True):
    project: str
    name: str
    created_at: float
    config: dict[str, Any]
    tags: list[str]
    notes: str | None
    group: str | None
    job_type: str | None
    host: dict[str, Any]


class UpdateRun(msgspec.Struct, tag="update_run", frozen=True):
    """Set fields of a run; None means "leave as is" and dict fields merge."""

    at: float
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    tags: list[str] | None = None
    notes: str | None = None
    host: dict[str, Any] | None = None
    status: str | None = None
    traceback: str | None = None


class Points(msgspec.Struct, tag="points", frozen=True):
    """Points of one key, columnar: steps, wall times and float64 values as raw bytes."""

    key: str
    steps: bytes
    times: bytes
    values: bytes


class LogLines(msgspec.Struct, tag="log_lines", frozen=True):
    """Captured console output: (wall time, stream, text) lines."""

    lines: list[tuple[float, str, str]]


class Heartbeat(msgspec.Struct, tag="heartbeat", frozen=True):
    at: float


Op = CreateRun | UpdateRun | Points | LogLines | Heartbeat


class Batch(msgspec.Struct, frozen=True):
    """What one writer delivers at once; (run_id, writer, seq) makes delivery idempotent."""

    run_id: str
    writer: str
    seq: int
    ops: list[Op]


class LogLine(msgspec.Struct, frozen=True):
    at: float
    stream: str
    text: str
