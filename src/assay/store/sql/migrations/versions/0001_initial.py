"""The first schema: projects, runs, tags, batches, metric chunks and summaries, logs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("config", Json, nullable=False),
        sa.Column("summary", Json, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("group_name", sa.String(256)),
        sa.Column("job_type", sa.String(64)),
        sa.Column("host", Json, nullable=False),
        sa.Column("traceback", sa.Text),
    )
    op.create_index("ix_runs_project_created", "runs", ["project", "created_at"])
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("tag", sa.String(256), primary_key=True),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])
    op.create_table(
        "batches",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("writer", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("applied_at", sa.Float, nullable=False),
    )
    op.create_table(
        "metric_chunks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("step_min", sa.BigInteger, nullable=False),
        sa.Column("step_max", sa.BigInteger, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("times", sa.LargeBinary, nullable=False),
        sa.Column("values", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_metric_chunks_run_key", "metric_chunks", ["run_id", "key", "id"])
    op.create_table(
        "metric_summary",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("last", sa.Float),
        sa.Column("min", sa.Float),
        sa.Column("max", sa.Float),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("open_chunks", sa.Integer, nullable=False),
    )
    op.create_table(
        "log_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("stream", sa.String(8), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_log_lines_run", "log_lines", ["run_id", "id"])


def downgrade() -> None:
    for index, table in (
        ("ix_log_lines_run", "log_lines"),
        ("ix_metric_chunks_run_key", "metric_chunks"),
        ("ix_run_tags_tag", "run_tags"),
        ("ix_runs_project_created", "runs"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "log_lines",
        "metric_summary",
        "metric_chunks",
        "batches",
        "run_tags",
        "runs",
        "projects",
    ):
        op.drop_table(table)
