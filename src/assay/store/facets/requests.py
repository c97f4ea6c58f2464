"""``store.requests``: the request log of served models (docs/serving.md, "Request log").

Entries come in idempotent batches (writer, seq) from ``assay serve`` and from
``assay.monitoring.log``; labels that arrive later are joined by request id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from assay.records import LabelResult, LoggedRequest, RequestBatch


class Requests(Protocol):
    def write_batch(self, batch: RequestBatch, actor: str | None = None) -> bool:
        """Store a batch's entries; False when (writer, seq) was applied before. An entry
        whose (model, request id) is stored already is ignored (the first one stays)."""

    def label(
        self, model: str, ids: Sequence[str], labels: Sequence[Any], actor: str | None = None
    ) -> LabelResult:
        """Join ``labels[i]`` to the entry ``ids[i]`` of ``model`` (a later label replaces
        an earlier one); ids no entry has are returned in ``unknown``, not stored."""

    def list(
        self,
        model: str,
        *,
        version: str | None = None,
        arm: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[LoggedRequest]:
        """Entries of ``model`` with ``since <= time < until``, oldest first; ``limit``
        keeps the newest ``limit`` of them."""
