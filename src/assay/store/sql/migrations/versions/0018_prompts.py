"""Prompt labels: where each label of a prompt points (one version, or a weighted split
of versions for an A/B test). One row per move, so the table is also the history; a
label's target is its latest row (``split`` {} when removed). The versions themselves
are artifact versions of type ``prompt``.

Revision ID: 0018
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prompt_labels",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("prompt", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("split", Json, nullable=False),
        sa.Column("previous", Json, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("evidence", sa.String(256)),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_prompt_labels_prompt", "prompt_labels", ["project", "prompt", "label", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_prompt_labels_prompt", "prompt_labels")
    op.drop_table("prompt_labels")
