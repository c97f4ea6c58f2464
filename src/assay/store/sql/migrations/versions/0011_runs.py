"""Run management (soft deletion) and sweeps.

``runs.deleted_at``: when a run was deleted; such a run is hidden from lists and
counts, restorable, and purged by ``assay gc`` once older than the retention period.
``runs.delete_artifacts``: whether that purge removes the artifact versions the run
produced too (``assay runs rm --with-artifacts``).

``sweeps`` and ``sweep_trials``: hyperparameter sweeps and their trials, one row per
trial number (the primary key is the claim two agents race for; docs/sweeps.md).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("deleted_at", sa.Float))
    op.add_column(
        "runs",
        sa.Column("delete_artifacts", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("spec", json, nullable=False),
        sa.Column("max_trials", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_sweeps_project", "sweeps", ["project", "created_at"])
    op.create_table(
        "sweep_trials",
        sa.Column("sweep_id", sa.String(32), sa.ForeignKey("sweeps.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("params", json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("sweep_trials")
    op.drop_index("ix_sweeps_project", table_name="sweeps")
    op.drop_table("sweeps")
    op.drop_column("runs", "delete_artifacts")
    op.drop_column("runs", "deleted_at")
