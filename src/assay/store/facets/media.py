"""``store.media``: the rich values runs logged at steps (images, tables, histograms,
plots, audio, text, html, video). They are written with the run's batches (``Media``
operations); this facet reads them back. Their bytes are blobs (``store.blobs.get``)."""

from __future__ import annotations

from typing import Protocol

from assay.records import MediaKey, MediaRecord

MAX_MEDIA_PAGE = 10_000  # records one read returns at most


class Media(Protocol):
    def keys(self, run_id: str) -> list[MediaKey]:
        """The run's media keys, by name (NotFound for an unknown run)."""

    def list(
        self,
        run_id: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = MAX_MEDIA_PAGE,
    ) -> list[MediaRecord]:
        """The values logged under ``key``, within steps [start, end] if given, by step."""
