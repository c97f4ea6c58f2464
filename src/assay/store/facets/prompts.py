"""``store.prompts``: the labels of prompts (docs/llm.md). A prompt's versions are
artifact versions of type ``prompt`` (``store.artifacts``); a label points at one version
or at a weighted split of versions, and every move is kept with its reason and evidence
and written to the audit log, as a model alias's."""

from __future__ import annotations

from typing import Protocol

from assay.records import PromptLabel


class Prompts(Protocol):
    def set_label(
        self,
        project: str,
        prompt: str,
        label: str,
        split: dict[str, float] | None,
        *,
        reason: str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> PromptLabel:
        """Point ``label`` at versions: ``{"7": 90, "8": 10}`` (percentages adding up to
        100) or ``{"7": 100}``; None removes the label. InvalidInput for a version the
        prompt does not have or weights that do not add up to 100."""

    def label(self, project: str, prompt: str, label: str) -> PromptLabel:
        """The label now; NotFound when the prompt has no such label."""

    def labels(self, project: str, prompt: str) -> list[PromptLabel]:
        """The prompt's labels now, by name."""

    def history(self, project: str, prompt: str, label: str | None = None) -> list[PromptLabel]:
        """Every move of the prompt's labels (or of one), newest first."""

    def list(self, project: str) -> list[PromptLabel]:
        """Every label of every prompt of the project now, by prompt and label."""
