"""Traffic policies of registered models: how ``assay serve`` shares a model's requests
between its versions (weighted split, sticky key, shadow). One row per change, so the
table is also the history; a model's policy is its latest row (``split`` {} when cleared).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "traffic_policies",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), sa.ForeignKey("registered_models.name"), nullable=False),
        sa.Column("split", Json, nullable=False),
        sa.Column("sticky", sa.String(256)),
        sa.Column("shadow", Json, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_traffic_policies_model", "traffic_policies", ["model", "id"])


def downgrade() -> None:
    op.drop_index("ix_traffic_policies_model", "traffic_policies")
    op.drop_table("traffic_policies")
