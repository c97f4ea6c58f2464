"""``store.models`` over HTTP (server/api/models.py answers)."""

from __future__ import annotations

from assay import wire
from assay.records import AliasMove, ModelServer, ModelVersion, RegisteredModel, TrafficPolicy
from assay.store.http.transport import Transport, decode, seg


class HttpModels:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def register(
        self,
        version_id: str,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        ask = wire.RegisterRequest(version_id, description, tags or {})
        response = self.http.send("POST", f"/api/v1/models/{seg(name)}/versions", ask)
        return decode(response, ModelVersion)

    def get(self, name: str) -> RegisteredModel:
        return self.http.get(f"/api/v1/models/{seg(name)}", RegisteredModel)

    def versions(self, name: str) -> list[ModelVersion]:
        return self.http.get(f"/api/v1/models/{seg(name)}/versions", list[ModelVersion])

    def version(self, name: str, selector: str) -> ModelVersion:
        path = f"/api/v1/models/{seg(name)}/versions/{seg(selector)}"
        return self.http.get(path, ModelVersion)

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
        ask = wire.MoveAlias(version, reason, evidence)
        response = self.http.send("PUT", f"/api/v1/models/{seg(name)}/aliases/{seg(alias)}", ask)
        return decode(response, AliasMove)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        params = {"alias": alias} if alias else {}
        path = f"/api/v1/models/{seg(name)}/aliases"
        return self.http.get(path, list[AliasMove], params=params)

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
        ask = wire.SetTraffic(split, sticky, shadow, reason)
        response = self.http.send("PUT", f"/api/v1/models/{seg(name)}/traffic", ask)
        return decode(response, TrafficPolicy)

    def traffic(self, name: str) -> TrafficPolicy | None:
        path = f"/api/v1/models/{seg(name)}/traffic"
        return self.http.get(path, TrafficPolicy | None)  # type: ignore[arg-type]

    def traffic_history(self, name: str) -> list[TrafficPolicy]:
        path = f"/api/v1/models/{seg(name)}/traffic/history"
        return self.http.get(path, list[TrafficPolicy])

    def announce(self, server: ModelServer, actor: str | None = None) -> ModelServer:
        response = self.http.send("PUT", f"/api/v1/model-servers/{seg(server.id)}", server)
        return decode(response, ModelServer)

    def withdraw(self, server_id: str, actor: str | None = None) -> None:
        self.http.call("DELETE", f"/api/v1/model-servers/{seg(server_id)}")

    def servers(self, name: str | None = None) -> list[ModelServer]:
        params = {"model": name} if name else {}
        return self.http.get("/api/v1/model-servers", list[ModelServer], params=params)

    def list(self, project: str | None = None) -> list[RegisteredModel]:
        params = {"project": project} if project else {}
        return self.http.get("/api/v1/models", list[RegisteredModel], params=params)
