"""The request log of served models, and the batches that made delivery idempotent.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_log",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(256), primary_key=True),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(64)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("inputs", sa.LargeBinary, nullable=False),
        sa.Column("outputs", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.LargeBinary),
        sa.Column("labelled_at", sa.Float),
    )
    op.create_index("ix_request_log_model_time", "request_log", ["model", "time"])
    op.create_table(
        "request_batches",
        sa.Column("writer", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("applied_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("request_batches")
    op.drop_index("ix_request_log_model_time", "request_log")
    op.drop_table("request_log")
