"""``store.models``: the model registry (named models, their versions and aliases)."""

from __future__ import annotations

from typing import Protocol

from assay.records import AliasMove, ModelVersion, RegisteredModel


class Models(Protocol):
    def register(
        self,
        version_id: str,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion: ...

    def get(self, name: str) -> RegisteredModel: ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def version(self, name: str, selector: str) -> ModelVersion:
        """``selector``: a version number, ``latest`` or an alias."""

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        reason: str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> AliasMove: ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]: ...

    def list(self, project: str | None = None) -> list[RegisteredModel]: ...
