"""Monitor alerts: one row per incident of an alert rule (fired, then resolved).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("monitor_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("opened_step", sa.BigInteger, nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("resolved_step", sa.BigInteger),
        sa.Column("resolved_at", sa.Float),
        sa.Column("resolved_value", sa.Float),
        sa.Column("detail", Json, nullable=False),
        sa.Column("deliveries", Json, nullable=False),
        sa.UniqueConstraint("monitor_id", "rule", "opened_step", name="uq_monitor_alerts_incident"),
    )
    op.create_index("ix_monitor_alerts_project", "monitor_alerts", ["project", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_monitor_alerts_project", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
