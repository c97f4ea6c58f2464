"""``store.artifacts`` over HTTP (server/api/artifacts.py answers)."""

from __future__ import annotations

from collections.abc import Sequence

from assay import wire
from assay.records import ArtifactDraft, ArtifactInfo, ArtifactVersion, LineageEdge, Manifest
from assay.store.http.transport import Transport, decode, seg


class HttpArtifacts:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def commit(self, draft: ArtifactDraft, actor: str | None = None) -> ArtifactVersion:
        return decode(self.http.send("POST", "/api/v1/artifacts", draft), ArtifactVersion)

    def versions(self, project: str, name: str) -> list[ArtifactVersion]:
        path = f"/api/v1/projects/{seg(project)}/artifacts/{seg(name)}/versions"
        return self.http.get(path, list[ArtifactVersion])

    def version(self, project: str, name: str, selector: str) -> ArtifactVersion:
        path = f"/api/v1/projects/{seg(project)}/artifacts/{seg(name)}/versions/{seg(selector)}"
        return self.http.get(path, ArtifactVersion)

    def versions_by_id(self, ids: Sequence[str]) -> list[ArtifactVersion]:
        if not ids:
            return []
        response = self.http.send("POST", "/api/v1/artifact-versions", wire.Ids(list(ids)))
        return decode(response, list[ArtifactVersion])

    def manifest(self, version_id: str) -> Manifest:
        return self.http.get(f"/api/v1/artifact-versions/{seg(version_id)}/manifest", Manifest)

    def set_alias(
        self, project: str, name: str, alias: str, version: int | None, actor: str | None = None
    ) -> None:
        path = f"/api/v1/projects/{seg(project)}/artifacts/{seg(name)}/aliases/{seg(alias)}"
        self.http.send("PUT", path, wire.SetAlias(version))

    def record_use(self, run_id: str, version_id: str) -> None:
        self.http.send("POST", f"/api/v1/runs/{seg(run_id)}/uses", wire.UseRequest(version_id))

    def lineage_edges(
        self, run_ids: Sequence[str], version_ids: Sequence[str]
    ) -> list[LineageEdge]:
        ask = wire.LineageRequest(list(run_ids), list(version_ids))
        return decode(self.http.send("POST", "/api/v1/lineage", ask), list[LineageEdge])

    def list(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        params = {"type": type} if type else {}
        path = f"/api/v1/projects/{seg(project)}/artifacts"
        return self.http.get(path, list[ArtifactInfo], params=params)
