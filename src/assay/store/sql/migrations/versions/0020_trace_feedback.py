"""Feedback on traces and spans: from the application, reviewers and LLM judges.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "trace_feedback",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16)),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("thumbs", sa.Boolean),
        sa.Column("correction", Json),
        sa.Column("comment", sa.Text),
        sa.Column("data", Json, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_trace_feedback_trace", "trace_feedback", ["project", "trace_id"])
    op.create_index("ix_trace_feedback_project", "trace_feedback", ["project", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_trace_feedback_project", table_name="trace_feedback")
    op.drop_index("ix_trace_feedback_trace", table_name="trace_feedback")
    op.drop_table("trace_feedback")
