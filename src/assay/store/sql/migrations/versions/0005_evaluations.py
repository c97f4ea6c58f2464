"""Evaluations and their per-item results.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("model", sa.String(512), nullable=False),
        sa.Column("model_key", sa.String(128), nullable=False),
        sa.Column("model_version_id", sa.String(32), sa.ForeignKey("artifact_versions.id")),
        sa.Column("dataset", sa.String(1024), nullable=False),
        sa.Column("dataset_digest", sa.String(64), nullable=False),
        sa.Column("dataset_version_id", sa.String(32), sa.ForeignKey("artifact_versions.id")),
        sa.Column("baseline_id", sa.String(32), sa.ForeignKey("evaluations.id")),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id")),
        sa.Column("verdict", sa.String(16)),
        sa.Column("n_items", sa.Integer, nullable=False),
        sa.Column("n_errors", sa.Integer, nullable=False),
        sa.Column("report", Json, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_evaluations_project", "evaluations", ["project", "created_at"])
    op.create_index("ix_evaluations_model_version", "evaluations", ["model_version_id"])
    op.create_index("ix_evaluations_dataset_version", "evaluations", ["dataset_version_id"])
    op.create_table(
        "eval_items",
        sa.Column(
            "evaluation_id", sa.String(32), sa.ForeignKey("evaluations.id"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("error", sa.Boolean, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("eval_items")
    op.drop_table("evaluations")
