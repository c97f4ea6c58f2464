"""Label routing and feedback: a label budget per project, each annotator's quality per
kind of item, and the served model a piece of feedback's request id belongs to.

Revision ID: 0016
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("label_projects", sa.Column("budget", sa.Float))
    op.add_column("label_feedback", sa.Column("model", sa.String(128)))
    op.create_index("ix_label_feedback_model", "label_feedback", ["model", "request_id"])
    op.create_table(
        "label_annotator_kinds",
        sa.Column(
            "project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True
        ),
        sa.Column("annotator", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(256), primary_key=True),
        sa.Column("quality", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("label_annotator_kinds")
    op.drop_index("ix_label_feedback_model", table_name="label_feedback")
    with op.batch_alter_table("label_feedback") as batch:
        batch.drop_column("model")
    with op.batch_alter_table("label_projects") as batch:
        batch.drop_column("budget")
