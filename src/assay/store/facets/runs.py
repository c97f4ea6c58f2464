"""``store.runs``: runs, their batches, series and console output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from assay.records import Batch, Columns, LogLine, Project, Run


class Runs(Protocol):
    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """Apply a batch atomically; False if this (run, writer, seq) was applied before.
        ``actor`` names who acts in the audit log (a server passes its caller)."""

    def projects(self) -> list[Project]: ...

    def get(self, run_id: str) -> Run:
        """The run, or NotFound."""

    def count(self, project: str, filter: str | None = None) -> int: ...

    def history(self, run_id: str, keys: Sequence[str] | None = None) -> dict[str, Columns]:
        """Every point of the named series (all series when keys is None)."""

    def series(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        points: int = 1000,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[tuple[str, str], Columns]:
        """Each series, within steps [start, end] if given, downsampled to at most
        ``points`` points with each bucket's min and max kept."""

    def log_lines(self, run_id: str, tail: int | None = None) -> list[LogLine]: ...

    def list(
        self,
        project: str,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        """Runs of a project matching a filter expression (see docs/query.md)."""
