"""Label projects: items, annotations (one row per annotator and item: the claim, then
the label), estimated annotator quality, and feedback on model outputs.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "label_projects",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("schema", Json, nullable=False),
        sa.Column("overlap", sa.Integer, nullable=False),
        sa.Column("routing", sa.String(16), nullable=False),
        sa.Column("min_labels", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("gold_rate", sa.Float, nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("source_version_id", sa.String(32), sa.ForeignKey("artifact_versions.id")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("project", "name", name="uq_label_projects_name"),
    )
    op.create_table(
        "label_items",
        sa.Column(
            "project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True
        ),
        sa.Column("item_id", sa.String(256), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("gold", Json),
        sa.Column("is_gold", sa.Boolean, nullable=False),
        sa.Column("needed", sa.Integer, nullable=False),
        sa.Column("taken", sa.Integer, nullable=False),
        sa.Column("min_quality", sa.Float),
    )
    op.create_index("ix_label_items_queue", "label_items", ["project_id", "is_gold", "taken"])
    op.create_table(
        "label_annotations",
        sa.Column(
            "project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True
        ),
        sa.Column("item_id", sa.String(256), primary_key=True),
        sa.Column("annotator", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", Json),
        sa.Column("comment", sa.Text),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
    )
    op.create_index(
        "ix_label_annotations_open", "label_annotations", ["project_id", "annotator", "status"]
    )
    op.create_table(
        "label_annotators",
        sa.Column(
            "project_id", sa.String(32), sa.ForeignKey("label_projects.id"), primary_key=True
        ),
        sa.Column("annotator", sa.String(128), primary_key=True),
        sa.Column("quality", sa.Float, nullable=False),
    )
    op.create_table(
        "label_feedback",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", Json),
        sa.Column("request_id", sa.String(128)),
        sa.Column("evaluation_id", sa.String(32), sa.ForeignKey("evaluations.id")),
        sa.Column("item_id", sa.String(256)),
        sa.Column("comment", sa.Text),
        sa.Column("data", Json, nullable=False),
        sa.Column("label_project_id", sa.String(32), sa.ForeignKey("label_projects.id")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_label_feedback_request", "label_feedback", ["request_id"])
    op.create_index("ix_label_feedback_project", "label_feedback", ["project", "created_at"])


def downgrade() -> None:
    op.drop_table("label_feedback")
    op.drop_table("label_annotators")
    op.drop_table("label_annotations")
    op.drop_table("label_items")
    op.drop_table("label_projects")
