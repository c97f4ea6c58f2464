"""Request-scoped pieces: the app state, the caller, and permission checks."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from assay.errors import Forbidden, Unauthorized
from assay.server.config import ServerConfig
from assay.store.sql.access import SqlAccess
from assay.store.sql.auth import Principal, SqlAuth, role_at_least
from assay.store.sql.store import SqlStore

LOCAL = Principal("local", is_admin=True)


@dataclass
class AppState:
    config: ServerConfig
    store: SqlStore
    auth: SqlAuth
    access: SqlAccess

    def close(self) -> None:
        self.store.close()


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.assay
    return state


def principal(request: Request) -> Principal:
    state = state_of(request)
    if state.config.local:
        return LOCAL
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    return state.auth.verify(token.strip())


def require(state: AppState, who: Principal, project: str, role: str) -> None:
    """Forbidden unless ``who`` has at least ``role`` on ``project``."""
    if not role_at_least(state.auth.role(who, project), role):
        raise Forbidden(f"user {who.user!r} needs the {role} role on project {project!r}")


def require_some(state: AppState, who: Principal, role: str) -> None:
    """Forbidden unless ``who`` has at least ``role`` on some project: checked before
    reading a body that names the project, so a caller with no such role is refused
    without the server reading (or decoding) what it sent."""
    if who.is_admin:
        return
    if not any(role_at_least(r, role) for r in state.auth.grants_of(who.user).values()):
        raise Forbidden(f"user {who.user!r} has no {role} role on any project")


def require_run(state: AppState, who: Principal, run_id: str, role: str) -> str:
    """The run's project, once ``who`` may act on it (NotFound, or Forbidden)."""
    project = state.store.runs.project_of(run_id)
    require(state, who, project, role)
    return project
