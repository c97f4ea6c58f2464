"""``store.labels`` over HTTP (server/api/labels.py answers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay import wire
from assay.records import (
    Annotation,
    AnnotationDraft,
    Feedback,
    FeedbackDraft,
    LabelItem,
    LabelItemDraft,
    LabelProject,
    LabelProjectDraft,
    LabelTask,
)
from assay.store.http.transport import Transport, decode, seg


class HttpLabels:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def _path(self, project_id: str, tail: str = "") -> str:
        return f"/api/v1/labels/{seg(project_id)}{tail}"

    def _turn(self, project_id: str, tail: str, turn: wire.LabelTurn) -> Any:
        return self.http.send("POST", self._path(project_id, tail), turn)

    def create(self, draft: LabelProjectDraft, actor: str | None = None) -> LabelProject:
        return decode(self.http.send("POST", "/api/v1/labels", draft), LabelProject)

    def get(self, project_id: str) -> LabelProject:
        return self.http.get(self._path(project_id), LabelProject)

    def find(self, project: str, name: str) -> LabelProject:
        path = f"/api/v1/labels/by-name/{seg(project)}/{seg(name)}"
        return self.http.get(path, LabelProject)

    def add_items(
        self, project_id: str, items: list[LabelItemDraft], actor: str | None = None
    ) -> LabelProject:
        body = wire.LabelItems(items)
        return decode(self.http.send("POST", self._path(project_id, "/items"), body), LabelProject)

    def items(self, project_id: str) -> list[LabelItem]:
        return self.http.get(self._path(project_id, "/items"), list[LabelItem])

    def claim(self, project_id: str, annotator: str) -> LabelTask | None:
        turn = wire.LabelTurn(annotator=annotator)
        return decode(self._turn(project_id, "/claim", turn), wire.Claimed).task

    def submit(
        self, project_id: str, item_id: str, annotator: str, value: Any, comment: str | None = None
    ) -> Annotation:
        turn = wire.LabelTurn(annotator=annotator, item_id=item_id, value=value, comment=comment)
        return decode(self._turn(project_id, "/submit", turn), Annotation)

    def skip(
        self, project_id: str, item_id: str, annotator: str, comment: str | None = None
    ) -> Annotation:
        turn = wire.LabelTurn(annotator=annotator, item_id=item_id, comment=comment)
        return decode(self._turn(project_id, "/skip", turn), Annotation)

    def load(self, project_id: str, labels: list[AnnotationDraft], actor: str | None = None) -> int:
        body = wire.LabelLoad(labels)
        return decode(self.http.send("POST", self._path(project_id, "/import"), body), int)

    def annotations(self, project_id: str, annotator: str | None = None) -> list[Annotation]:
        params = {} if annotator is None else {"annotator": annotator}
        path = self._path(project_id, "/annotations")
        return self.http.get(path, list[Annotation], params=params)

    def route(
        self,
        project_id: str,
        needed: dict[str, int],
        min_quality: float | Mapping[str, float] | None,
        quality: dict[str, float],
        *,
        kind_quality: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        floors = dict(min_quality) if isinstance(min_quality, Mapping) else min_quality
        body = wire.LabelRoute(
            needed=needed,
            min_quality=floors,
            quality=quality,
            kind_quality={k: dict(v) for k, v in (kind_quality or {}).items()},
        )
        self.http.send("POST", self._path(project_id, "/route"), body)

    def add_feedback(self, draft: FeedbackDraft, actor: str | None = None) -> Feedback:
        return decode(self.http.send("POST", "/api/v1/feedback", draft), Feedback)

    def feedback(
        self,
        project: str | None = None,
        request_id: str | None = None,
        evaluation_id: str | None = None,
        limit: int = 100,
        *,
        model: str | None = None,
    ) -> list[Feedback]:
        asked = {
            "project": project,
            "request_id": request_id,
            "evaluation_id": evaluation_id,
            "model": model,
        }
        params: dict[str, Any] = {k: v for k, v in asked.items() if v is not None}
        return self.http.get("/api/v1/feedback", list[Feedback], params={**params, "limit": limit})

    def list(self, project: str | None = None) -> list[LabelProject]:
        params = {} if project is None else {"project": project}
        return self.http.get("/api/v1/labels", list[LabelProject], params=params)
