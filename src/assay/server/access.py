"""Project boundaries for things addressed without a project: blobs (by digest), lineage
edges (by run or version id). A caller sees a blob only when an artifact version or run
of a project they read holds it; an edge only when they read both its ends' projects.
Anything else answers as if it did not exist, so nothing can be probed."""

from __future__ import annotations

from collections.abc import Sequence

from assay.errors import NotFound
from assay.records import LineageEdge
from assay.server.deps import AppState
from assay.store.sql.auth import Principal, role_at_least


def readable(state: AppState, who: Principal) -> set[str] | None:
    """The projects ``who`` may read; None for an admin (every project)."""
    if who.is_admin:
        return None
    grants = state.auth.grants_of(who.user)
    return {p for p, role in grants.items() if role_at_least(role, "viewer")}


def visible_blobs(state: AppState, who: Principal, digests: Sequence[str]) -> set[str]:
    """The digests a project ``who`` reads holds (every digest for an admin)."""
    projects = readable(state, who)
    if projects is None:
        return set(digests)
    held = state.access.blob_projects(digests)
    return {d for d, owners in held.items() if owners & projects}


def usable_blobs(state: AppState, who: Principal, digests: Sequence[str]) -> set[str]:
    """Digests ``who`` may name in something they store: visible ones, and ones no project
    holds yet (an upload on its way to a commit; only who has the bytes knows its digest)."""
    projects = readable(state, who)
    if projects is None:
        return set(digests)
    held = state.access.blob_projects(digests)
    return {d for d, owners in held.items() if not owners or owners & projects}


def require_blob(state: AppState, who: Principal, digest: str) -> None:
    if digest not in visible_blobs(state, who, [digest]):
        raise NotFound(f"blob {digest} is not stored")


def visible_edges(
    state: AppState, who: Principal, edges: Sequence[LineageEdge]
) -> list[LineageEdge]:
    projects = readable(state, who)
    if projects is None:
        return list(edges)
    runs = state.access.run_projects([e.run_id for e in edges])
    versions = state.access.version_projects([e.version_id for e in edges])
    return [
        e
        for e in edges
        if runs.get(e.run_id) in projects and versions.get(e.version_id) in projects
    ]
