"""Users, API keys and per-project roles, kept in the store's database.

A key reads ``ak_<id>_<secret>``; only SHA-256 of the secret is stored (the secret is
32 random bytes, so a slow password hash adds nothing), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from assay.errors import Conflict, InvalidInput, NotFound, Unauthorized
from assay.store.sql import audit, opening
from assay.store.sql.schema import api_keys, grants, users

ROLES = ("annotator", "viewer", "writer", "admin")  # each includes the ones before
_RANK = {role: i for i, role in enumerate(ROLES)}
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
_KEY = re.compile(r"^ak_([a-z0-9]{12})_([A-Za-z0-9_\-]{20,})$")
TOUCH_EVERY = 60.0  # seconds between writes of a key's last-used time


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, and whether they administer the whole server."""

    user: str
    is_admin: bool


@dataclass(frozen=True, kw_only=True)
class KeyInfo:
    id: str
    user: str
    label: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and _RANK[role] >= _RANK[needed]


def _audit(
    conn: sa.Connection, actor: str | None, action: str, target: str, change: dict[str, object]
) -> None:
    audit.append(conn, actor or audit.local_actor(), action, target, change)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlAuth:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # writes take SQLite's write lock up front, so audit appends never race
        self._writes = engine.execution_options(assay_tx="IMMEDIATE")

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with opening.translating("check who is asking"), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with opening.translating("change users, keys or roles"), self._writes.begin() as conn:
            yield conn

    def add_user(self, name: str, is_admin: bool = False, actor: str | None = None) -> None:
        if not isinstance(name, str) or not _USER.match(name):
            raise InvalidInput(f"user name {name!r} must be 1-64 letters, digits, '_.@-'")
        with self._write() as conn:
            if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first():
                raise Conflict(f"user {name!r} exists already")
            conn.execute(
                users.insert(), {"name": name, "is_admin": is_admin, "created_at": time.time()}
            )
            _audit(conn, actor, "user.added", f"user:{name}", {"is_admin": is_admin})

    def users(self) -> list[tuple[str, bool]]:
        with self._read() as conn:
            rows = conn.execute(sa.select(users.c.name, users.c.is_admin).order_by(users.c.name))
            return [(r.name, bool(r.is_admin)) for r in rows]

    def create_key(
        self, user: str, label: str | None = None, actor: str | None = None
    ) -> tuple[str, str]:
        """(key id, the whole key). The whole key is shown once and never stored."""
        self._require_user(user)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._write() as conn:
            conn.execute(
                api_keys.insert(),
                {
                    "id": key_id,
                    "user_name": user,
                    "secret_hash": _hash(secret),
                    "label": label,
                    "created_at": time.time(),
                },
            )
            _audit(conn, actor, "key.created", f"user:{user}", {"key": key_id, "label": label})
        return key_id, f"ak_{key_id}_{secret}"

    def revoke_key(self, key_id: str, actor: str | None = None) -> None:
        with self._write() as conn:
            done = conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
                .returning(api_keys.c.user_name)
            ).first()
            if done is None:
                raise NotFound(f"no active API key with id {key_id!r}")
            _audit(conn, actor, "key.revoked", f"user:{done.user_name}", {"key": key_id})

    def list_keys(self, user: str | None = None) -> list[KeyInfo]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at)
        if user is not None:
            query = query.where(api_keys.c.user_name == user)
        with self._read() as conn:
            return [
                KeyInfo(
                    id=r.id,
                    user=r.user_name,
                    label=r.label,
                    created_at=r.created_at,
                    last_used_at=r.last_used_at,
                    revoked_at=r.revoked_at,
                )
                for r in conn.execute(query)
            ]

    def verify(self, token: str) -> Principal:
        """The principal a key stands for, or Unauthorized."""
        match = _KEY.match(token or "")
        if match is None:
            raise Unauthorized("the API key is malformed (expected ak_<id>_<secret>)")
        key_id, secret = match.groups()
        query = (
            sa.select(api_keys, users.c.is_admin)
            .join(users, users.c.name == api_keys.c.user_name)
            .where(api_keys.c.id == key_id)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            raise Unauthorized("the API key is not valid")
        if row.revoked_at is not None:
            raise Unauthorized("the API key was revoked")
        now = time.time()
        if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
            with self._write() as conn:
                conn.execute(
                    api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now)
                )
        return Principal(row.user_name, bool(row.is_admin))

    def grant(self, user: str, project: str, role: str | None, actor: str | None = None) -> None:
        """Give ``user`` a role on ``project``; None takes it away."""
        if role is not None and role not in ROLES:
            raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
        self._require_user(user)
        with self._write() as conn:
            conn.execute(
                grants.delete().where(grants.c.user_name == user, grants.c.project == project)
            )
            if role is not None:
                conn.execute(grants.insert(), {"user_name": user, "project": project, "role": role})
            _audit(conn, actor, "grant.set", f"user:{user}", {"project": project, "role": role})

    def role(self, principal: Principal, project: str) -> str | None:
        if principal.is_admin:
            return "admin"
        with self._read() as conn:
            return conn.execute(
                sa.select(grants.c.role).where(
                    grants.c.user_name == principal.user, grants.c.project == project
                )
            ).scalar()

    def grants_of(self, user: str) -> dict[str, str]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(grants.c.project, grants.c.role).where(grants.c.user_name == user)
            )
            return {r.project: r.role for r in rows}

    def _require_user(self, user: str) -> None:
        with self._read() as conn:
            if conn.execute(sa.select(users.c.name).where(users.c.name == user)).first() is None:
                raise NotFound(f"no user named {user!r}")
