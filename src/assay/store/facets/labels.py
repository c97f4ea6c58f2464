"""``store.labels``: label projects, their queues and labels, and feedback on model
outputs (docs/labeling.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

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


class Labels(Protocol):
    def create(self, draft: LabelProjectDraft, actor: str | None = None) -> LabelProject: ...

    def get(self, project_id: str) -> LabelProject: ...

    def find(self, project: str, name: str) -> LabelProject: ...

    def add_items(
        self, project_id: str, items: list[LabelItemDraft], actor: str | None = None
    ) -> LabelProject: ...

    def items(self, project_id: str) -> list[LabelItem]: ...

    def claim(self, project_id: str, annotator: str) -> LabelTask | None: ...

    def submit(
        self, project_id: str, item_id: str, annotator: str, value: Any, comment: str | None = None
    ) -> Annotation: ...

    def skip(
        self, project_id: str, item_id: str, annotator: str, comment: str | None = None
    ) -> Annotation: ...

    def load(
        self, project_id: str, labels: list[AnnotationDraft], actor: str | None = None
    ) -> int: ...

    def annotations(self, project_id: str, annotator: str | None = None) -> list[Annotation]: ...

    def route(
        self,
        project_id: str,
        needed: dict[str, int],
        min_quality: float | Mapping[str, float] | None,
        quality: dict[str, float],
        *,
        kind_quality: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        """Adaptive routing's decisions (labeling/routing.py): each named item's need, the
        quality of the annotators a label beyond min_labels goes to first (one for all,
        or per item id), and each annotator's estimated quality, overall and per kind of
        item."""

    def add_feedback(self, draft: FeedbackDraft, actor: str | None = None) -> Feedback: ...

    def feedback(
        self,
        project: str | None = None,
        request_id: str | None = None,
        evaluation_id: str | None = None,
        limit: int = 100,
        *,
        model: str | None = None,
    ) -> list[Feedback]: ...

    def list(self, project: str | None = None) -> list[LabelProject]: ...
