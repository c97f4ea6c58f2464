"""``store.models``: the model registry (named models, their versions and aliases)."""

from __future__ import annotations

from typing import Protocol

from assay.records import AliasMove, ModelServer, ModelVersion, RegisteredModel, TrafficPolicy


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

    def set_traffic(
        self,
        name: str,
        split: dict[str, float] | None,
        *,
        sticky: str | None = None,
        shadow: dict[str, float] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> TrafficPolicy:
        """Set how ``assay serve`` shares the model's requests: ``split`` arm (alias or
        version) to percentage, adding up to 100 (None clears the policy); ``sticky``
        ``header:<name>`` or ``input:<name>``; ``shadow`` arm to the percentage of
        requests mirrored to it. Recorded in the history and the audit log."""

    def traffic(self, name: str) -> TrafficPolicy | None:
        """The model's policy now; None when there is none."""

    def traffic_history(self, name: str) -> list[TrafficPolicy]:
        """Every policy change, newest first (a clearing has an empty split)."""

    def announce(self, server: ModelServer, actor: str | None = None) -> ModelServer:
        """Record (or refresh) a running model server; the store's clock stamps its
        heartbeat. Every model it names must be registered."""

    def withdraw(self, server_id: str, actor: str | None = None) -> None:
        """Forget a model server (it stopped cleanly); nothing happens if it is unknown."""

    def servers(self, name: str | None = None) -> list[ModelServer]:
        """Announced model servers (those serving ``name``, if given), live ones first;
        one silent for ``ModelServer.MISSED_BEATS`` intervals has ``live`` False.
        An unknown ``name`` is NotFound."""

    def list(self, project: str | None = None) -> list[RegisteredModel]: ...
