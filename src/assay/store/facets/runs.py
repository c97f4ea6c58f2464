"""``store.runs``: runs, their batches, series and console output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from assay.records import Batch, Columns, LogLine, Project, Run, RunEdit


class Runs(Protocol):
    def write_batch(self, batch: Batch, actor: str | None = None) -> bool:
        """Apply a batch atomically; False if this (run, writer, seq) was applied before.
        ``actor`` names who acts in the audit log (a server passes its caller)."""

    def projects(self) -> list[Project]: ...

    def get(self, run_id: str) -> Run:
        """The run, or NotFound."""

    def count(self, project: str, filter: str | None = None, *, deleted: bool = False) -> int:
        """How many runs match; deleted runs (only them) when ``deleted``."""

    def update(self, run_id: str, edit: RunEdit, actor: str | None = None) -> Run:
        """Change the run's name, notes, group, job type or tags (audited)."""

    def delete(self, run_id: str, actor: str | None = None, *, with_artifacts: bool = False) -> Run:
        """Delete softly: hidden from lists and counts, restorable until ``assay gc``
        purges it; the artifact versions it produced go with it then only
        ``with_artifacts``. Conflict if deleted already."""

    def restore(self, run_id: str, actor: str | None = None) -> Run:
        """Undo a deletion not purged yet (Conflict if the run is not deleted)."""

    def move(self, run_id: str, project: str, actor: str | None = None) -> Run:
        """Move the run to another project (created if new)."""

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
        *,
        deleted: bool = False,
    ) -> list[Run]:
        """Runs of a project matching a filter expression (see docs/query.md); the
        deleted ones (only them) when ``deleted``."""


@runtime_checkable
class ManyBatches(Protocol):
    """A runs facet that takes several batches in one call (SQL: one transaction; HTTP:
    one request), as the SDK's writer delivers a backlog."""

    def write_batches(self, batches: Sequence[Batch], actor: str | None = None) -> list[bool]:
        """Apply the batches in order, all or none; False for each applied before. A
        refusal (of any one) raises and applies none of them."""
