"""Liveness on the store's clock, and JSON that every filter can read.

``runs.seen_at``: when the store last applied a batch of the run, by the store's own
clock. Whether a running run reads as crashed is decided from it, so a client whose
clock is behind no longer shows a live run as crashed. Existing runs start from their
last heartbeat.

SQLite stores written before non-finite numbers were refused may hold ``NaN`` or
``Infinity`` in a config or summary, which SQLite's JSON functions reject as malformed
(breaking every ``config.`` filter of the project): they are rewritten as the strings
"nan", "inf" and "-inf", as the SDK sends them. PostgreSQL never accepted them.

Revision ID: 0006
Revises: 0005
"""

import json
import math
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("seen_at", sa.Float))
    op.execute("UPDATE runs SET seen_at = heartbeat_at")
    if op.get_bind().dialect.name == "sqlite":
        _repair_json(op.get_bind())


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _repair_json(conn: sa.Connection) -> None:
    broken = conn.execute(
        sa.text(
            "SELECT id, config, summary FROM runs "
            "WHERE json_valid(config) = 0 OR json_valid(summary) = 0"
        )
    ).all()
    for run_id, config, summary in broken:
        conn.execute(
            sa.text("UPDATE runs SET config = :config, summary = :summary WHERE id = :id"),
            {
                "id": run_id,
                "config": json.dumps(_finite(json.loads(config))),
                "summary": json.dumps(_finite(json.loads(summary))),
            },
        )


def downgrade() -> None:
    op.drop_column("runs", "seen_at")
