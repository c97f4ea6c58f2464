"""``store.models`` on SQL: the facet over registry.py's queries."""

from __future__ import annotations

from assay.records import AliasMove, ModelServer, ModelVersion, RegisteredModel, TrafficPolicy
from assay.store.sql import registry, servers, traffic
from assay.store.sql.runs import store_clock
from assay.store.sql.tx import Database
from assay.store.validate import user_strings, user_text


class SqlModels:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self,
        version_id: str,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        user_text("description", description)
        user_strings("tags", tags)
        with self.db.write(actor=actor) as tx:
            return registry.register(tx, version_id, name, description, tags or {})

    def get(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            return registry.model(conn, name)

    def versions(self, name: str) -> list[ModelVersion]:
        with self.db.read() as conn:
            return registry.versions(conn, name)

    def version(self, name: str, selector: str) -> ModelVersion:
        with self.db.read() as conn:
            return registry.version_of(conn, name, selector)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        reason: str | None = None,
        evidence: str | None = None,
        actor: str | None = None,
    ) -> AliasMove:
        with self.db.write(actor=actor) as tx:
            return registry.set_alias(tx, name, alias, version, reason=reason, evidence=evidence)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        with self.db.read() as conn:
            return registry.history(conn, name, alias)

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
        with self.db.write(actor=actor) as tx:
            return traffic.set_traffic(tx, name, split, sticky=sticky, shadow=shadow, reason=reason)

    def traffic(self, name: str) -> TrafficPolicy | None:
        with self.db.read() as conn:
            return traffic.current(conn, name)

    def traffic_history(self, name: str) -> list[TrafficPolicy]:
        with self.db.read() as conn:
            return traffic.history(conn, name)

    def announce(self, server: ModelServer, actor: str | None = None) -> ModelServer:
        with self.db.write(actor=actor) as tx:
            return servers.announce(tx, server, self._now())

    def withdraw(self, server_id: str, actor: str | None = None) -> None:
        with self.db.write(actor=actor) as tx:
            servers.withdraw(tx, server_id)

    def servers(self, name: str | None = None) -> list[ModelServer]:
        now = self._now()
        with self.db.read() as conn:
            return servers.listing(conn, name, now)

    def _now(self) -> float:
        """The store's clock (the database server's for PostgreSQL): every reader judges
        a server's heartbeat by the same clock."""
        return store_clock() + self.db.clock_offset()

    def list(self, project: str | None = None) -> list[RegisteredModel]:
        with self.db.read() as conn:
            return registry.models(conn, project)
