"""Schema versioning with Alembic: upgrade an older store, refuse a newer one."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from assay.errors import SchemaMismatch
from assay.store.sql.schema import SCHEMA_REVISION

__all__ = ["SCHEMA_REVISION", "check_revision", "current_revision", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x4A55A7  # any constant: names Assay's migration lock
_KNOWN = tuple(f"{i:04d}" for i in range(1, int(SCHEMA_REVISION) + 1))


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def check_revision(revision: str | None, url: str) -> bool:
    """True if the store is at this Assay's schema; raise if it is newer or unknown."""
    if revision == SCHEMA_REVISION:
        return True
    if revision is not None and revision not in _KNOWN:
        raise SchemaMismatch(
            f"the store at {url} has schema revision {revision}, newer than this Assay knows "
            f"({SCHEMA_REVISION}); upgrade Assay before writing to it"
        )
    return False


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to head (Alembic is imported only when there is work to do)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several server processes may start at once: one migrates, the others wait
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
