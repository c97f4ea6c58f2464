"""Project boundaries for things addressed without a project: blobs (by digest), lineage
edges (by run or version id). A caller sees a blob only when an artifact version or run
of a project they read holds it; an edge only when they read both its ends' projects.
Anything else answers as if it did not exist, so nothing can be probed."""

from __future__ import annotations

import time
from collections.abc import Sequence

from assay.errors import Conflict, NotFound
from assay.records import LineageEdge
from assay.server.deps import AppState
from assay.store.sql.auth import Principal, role_at_least

# how long after its bytes were (re)stored another project's blob may be named in a commit
RECENTLY_STORED = 24 * 3600.0


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
    """Digests ``who`` may name in something they store (an artifact's files, an
    evaluation's items): visible ones; ones no project holds yet (an upload on its way to
    a commit: only who has the bytes knows the digest); and ones another project holds
    that were stored within RECENTLY_STORED seconds. The last are how the same bytes reach
    a second project: its client was told they are missing, sent them, and that stored
    them again. Knowing another project's digest without the bytes is not enough."""
    projects = readable(state, who)
    if projects is None:
        return set(digests)
    held = state.access.blob_projects(digests)
    usable = {d for d, owners in held.items() if not owners or owners & projects}
    others = [d for d in held if d not in usable]
    if others:
        usable |= state.access.stored_since(others, time.time() - RECENTLY_STORED)
    return usable


def require_usable(state: AppState, who: Principal, digests: Sequence[str]) -> None:
    """Conflict, worded as for blobs that are not stored, unless ``who`` may name them all."""
    usable = usable_blobs(state, who, digests)
    refused = [d for d in dict.fromkeys(digests) if d not in usable]
    if refused:
        raise Conflict(
            f"{len(refused)} of the {len(set(digests))} blobs this manifest names are not "
            f"stored (first: {refused[0]}); upload them, then commit again"
        )


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
