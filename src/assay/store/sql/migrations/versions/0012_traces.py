"""Traces and their spans (OpenTelemetry's model: docs/traces.md).

``traces``: one row per (project, trace id), a summary kept up to date as spans arrive.
``spans``: one row per (project, trace id, span id), the whole span as msgpack beside
the columns summaries and filters read.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traces",
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), primary_key=True),
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger, nullable=False),
        sa.Column("n_spans", sa.Integer, nullable=False),
        sa.Column("n_errors", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("cost", sa.Float),
        sa.Column("root_start_ns", sa.BigInteger),  # its root span's start, once it has one
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_traces_project_start", "traces", ["project", "start_ns"])
    op.create_table(
        "spans",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("span_id", sa.String(16), primary_key=True),
        sa.Column("parent_id", sa.String(16)),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("model", sa.String(256)),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("cost", sa.Float),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("spans")
    op.drop_table("traces")
