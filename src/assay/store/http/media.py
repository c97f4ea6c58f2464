"""``store.media`` over HTTP (server/api/media.py answers)."""

from __future__ import annotations

from typing import Any

from assay.records import MediaKey, MediaRecord
from assay.store.facets.media import MAX_MEDIA_PAGE
from assay.store.http.transport import Transport, seg


class HttpMedia:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def keys(self, run_id: str) -> list[MediaKey]:
        return self.http.get(f"/api/v1/runs/{seg(run_id)}/media", list[MediaKey])

    def list(
        self,
        run_id: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = MAX_MEDIA_PAGE,
    ) -> list[MediaRecord]:
        params: dict[str, Any] = {"key": key, "limit": limit}
        if start is not None:
            params["start"] = start
        if end is not None:
            params["end"] = end
        path = f"/api/v1/runs/{seg(run_id)}/media/values"
        return self.http.get(path, list[MediaRecord], params=params)
