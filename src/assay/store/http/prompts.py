"""``store.prompts`` over HTTP (server/api/prompts.py answers)."""

from __future__ import annotations

from assay import wire
from assay.records import PromptLabel
from assay.store.http.transport import Transport, decode, seg


class HttpPrompts:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def _path(self, project: str, prompt: str) -> str:
        return f"/api/v1/prompts/{seg(project)}/{seg(prompt)}/labels"

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
        ask = wire.SetPromptLabel(split, reason, evidence)
        path = f"{self._path(project, prompt)}/{seg(label)}"
        return decode(self.http.send("PUT", path, ask), PromptLabel)

    def label(self, project: str, prompt: str, label: str) -> PromptLabel:
        return self.http.get(f"{self._path(project, prompt)}/{seg(label)}", PromptLabel)

    def labels(self, project: str, prompt: str) -> list[PromptLabel]:
        return self.http.get(self._path(project, prompt), list[PromptLabel])

    def history(self, project: str, prompt: str, label: str | None = None) -> list[PromptLabel]:
        params = {"label": label} if label else {}
        path = f"/api/v1/prompts/{seg(project)}/{seg(prompt)}/history"
        return self.http.get(path, list[PromptLabel], params=params)

    def list(self, project: str) -> list[PromptLabel]:
        return self.http.get(f"/api/v1/prompts/{seg(project)}", list[PromptLabel])
