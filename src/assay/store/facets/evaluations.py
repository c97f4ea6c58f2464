"""``store.evaluations``: evaluation reports and their per-item results (docs/evaluate.md)."""

from __future__ import annotations

from typing import Protocol

from assay.records import EvalItem, Evaluation, EvaluationDraft


class Evaluations(Protocol):
    def save(self, draft: EvaluationDraft, actor: str | None = None) -> Evaluation: ...

    def get(self, evaluation_id: str) -> Evaluation: ...

    def items(self, evaluation_id: str) -> list[EvalItem]: ...

    def list(
        self,
        project: str | None = None,
        model_version_id: str | None = None,
        dataset_version_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Evaluation]:
        """Newest first; ``offset`` skips that many (pages of ``limit``)."""
