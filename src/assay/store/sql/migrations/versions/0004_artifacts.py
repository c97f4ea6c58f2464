"""Artifacts (versions, manifests, aliases), blob bookkeeping, lineage, model registry.

Revision ID: 0004
Revises: 0003
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
    )
    op.create_table(
        "blob_refs",
        sa.Column("owner", sa.String(40), primary_key=True),
        sa.Column("digest", sa.String(64), sa.ForeignKey("blobs.digest"), primary_key=True),
    )
    op.create_index("ix_blob_refs_digest", "blob_refs", ["digest"])
    op.create_table(
        "artifacts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("project", "name", name="uq_artifacts_project_name"),
    )
    op.create_table(
        "artifact_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("artifact_id", sa.BigInteger, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("description", sa.Text),
        sa.UniqueConstraint("artifact_id", "version", name="uq_artifact_versions_version"),
        sa.UniqueConstraint("artifact_id", "digest", name="uq_artifact_versions_digest"),
    )
    op.create_table(
        "artifact_aliases",
        sa.Column("artifact_id", sa.BigInteger, sa.ForeignKey("artifacts.id"), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column(
            "version_id", sa.String(32), sa.ForeignKey("artifact_versions.id"), nullable=False
        ),
    )
    op.create_table(
        "lineage",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column(
            "version_id", sa.String(32), sa.ForeignKey("artifact_versions.id"), primary_key=True
        ),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_lineage_version", "lineage", ["version_id"])
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("project", sa.String(128), sa.ForeignKey("projects.name"), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("tags", Json, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column(
            "model", sa.String(128), sa.ForeignKey("registered_models.name"), primary_key=True
        ),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "artifact_version_id",
            sa.String(32),
            sa.ForeignKey("artifact_versions.id"),
            nullable=False,
        ),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("model", "artifact_version_id", name="uq_model_versions_artifact"),
    )
    op.create_table(
        "model_aliases",
        sa.Column(
            "model", sa.String(128), sa.ForeignKey("registered_models.name"), primary_key=True
        ),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "alias_moves",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), sa.ForeignKey("registered_models.name"), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("previous", sa.Integer),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("evidence", sa.String(256)),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_alias_moves_model", "alias_moves", ["model", "id"])
    _hold_run_blobs()


def _hold_run_blobs() -> None:
    """Runs created before 0004 keep large git diffs as blobs: record them as held, so
    garbage collection never removes them."""
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("id"), sa.column("host", Json))
    for run_id, host in conn.execute(sa.select(runs.c.id, runs.c.host)):
        git: Any = (host or {}).get("git") if isinstance(host, dict) else None
        digest = git.get("diff_blob") if isinstance(git, dict) else None
        if not isinstance(digest, str):
            continue
        if not conn.execute(
            sa.text("SELECT 1 FROM blobs WHERE digest = :d"), {"d": digest}
        ).first():
            conn.execute(
                sa.text("INSERT INTO blobs (digest, size, stored_at) VALUES (:d, 0, :t)"),
                {"d": digest, "t": 0.0},
            )
        conn.execute(
            sa.text("INSERT INTO blob_refs (owner, digest) VALUES (:o, :d)"),
            {"o": f"run:{run_id}", "d": digest},
        )


def downgrade() -> None:
    op.drop_table("alias_moves")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
    op.drop_table("registered_models")
    op.drop_table("lineage")
    op.drop_table("artifact_aliases")
    op.drop_table("artifact_versions")
    op.drop_table("artifacts")
    op.drop_table("blob_refs")
    op.drop_table("blobs")
