"""Run management: soft deletion.

``runs.deleted_at``: when a run was deleted; such a run is hidden from lists and
counts, restorable, and purged by ``assay gc`` once older than the retention period.
``runs.delete_artifacts``: whether that purge removes the artifact versions the run
produced too (``assay runs rm --with-artifacts``).

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
    op.add_column("runs", sa.Column("deleted_at", sa.Float))
    op.add_column(
        "runs",
        sa.Column("delete_artifacts", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("runs", "delete_artifacts")
    op.drop_column("runs", "deleted_at")
