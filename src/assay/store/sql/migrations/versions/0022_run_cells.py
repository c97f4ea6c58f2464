"""Run cells: config values and summaries typed for the runs table.

``run_cells``: one row per (run, dotted config path | summary key), with the value as a
number, a string and JSON (store/sql/cells.py), indexed by (project, kind, key, num):
filters, sorting and group statistics of the runs table read it instead of every run's
JSON. Filled here from ``runs.config``, ``runs.summary`` and ``metric_summary`` in SQL
(the same rows the writers produce), by the same rules: a config key that is empty or
holds "." or '"' has no cell, nor anything under it; names longer than 256 characters
have none.

``ix_runs_project_listed`` on runs (project, deleted_at, created_at, id): a project's
shown runs are counted and paged newest first from the index alone.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

KEY_LENGTH = 256

# SQLite: json_each walks a level; the walk descends into non-empty objects.
_SQLITE_VALID = "e.key <> '' AND instr(e.key, '.') = 0 AND instr(e.key, '\"') = 0"
_SQLITE_NUM = (
    "CASE WHEN {t} IN ('integer', 'real') THEN {v}"
    " WHEN {t} = 'text' AND {v} = 'inf' THEN 9e999"
    " WHEN {t} = 'text' AND {v} = '-inf' THEN -9e999 END"
)
_SQLITE_TEXT = "CASE WHEN {t} = 'text' THEN {v} END"
_SQLITE_JSON = (
    "CASE {t} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null'"
    " WHEN 'text' THEN json_quote({v}) ELSE CAST({v} AS TEXT) END"
)


def _sqlite_typed(t: str, v: str) -> str:
    return ", ".join(f.format(t=t, v=v) for f in (_SQLITE_NUM, _SQLITE_TEXT, _SQLITE_JSON))


SQLITE = [
    f"""
    WITH RECURSIVE walk(run_id, project, key, type, value) AS (
        SELECT r.id, r.project, e.key, e.type, e.value
        FROM runs r, json_each(r.config) e WHERE {_SQLITE_VALID}
        UNION ALL
        SELECT w.run_id, w.project, w.key || '.' || e.key, e.type, e.value
        FROM walk w, json_each(w.value) e WHERE w.type = 'object' AND {_SQLITE_VALID}
    )
    INSERT INTO run_cells (run_id, kind, key, project, num, text, value)
    SELECT run_id, 'config', key, project, {_sqlite_typed("type", "value")}
    FROM walk
    WHERE (type <> 'object' OR value = '{{}}') AND length(key) <= {KEY_LENGTH}
    """,
    f"""
    INSERT INTO run_cells (run_id, kind, key, project, num, text, value)
    SELECT r.id, 'summary', e.key, r.project, {_sqlite_typed("e.type", "e.value")}
    FROM runs r, json_each(r.summary) e WHERE length(e.key) <= {KEY_LENGTH}
    """,
    """
    INSERT OR IGNORE INTO run_cells (run_id, kind, key, project, num, text, value)
    SELECT m.run_id, 'summary', m.key, r.project, m.last, NULL, NULL
    FROM metric_summary m JOIN runs r ON r.id = m.run_id
    """,
]

_PG_VALID = "e.key <> '' AND strpos(e.key, '.') = 0 AND strpos(e.key, '\"') = 0"


def _pg_typed(v: str) -> str:
    return (
        f"CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v} #>> '{{}}')::float8"
        f" WHEN {v} = '\"inf\"'::jsonb THEN 'Infinity'::float8"
        f" WHEN {v} = '\"-inf\"'::jsonb THEN '-Infinity'::float8 END,"
        f" CASE WHEN jsonb_typeof({v}) = 'string' THEN {v} #>> '{{}}' END, {v}::text"
    )


POSTGRESQL = [
    f"""
    WITH RECURSIVE walk(run_id, project, key, value) AS (
        SELECT r.id, r.project, e.key, e.value
        FROM runs r, jsonb_each(r.config) e WHERE {_PG_VALID}
        UNION ALL
        SELECT w.run_id, w.project, w.key || '.' || e.key, e.value
        FROM walk w, jsonb_each(w.value) e
        WHERE jsonb_typeof(w.value) = 'object' AND {_PG_VALID}
    )
    INSERT INTO run_cells (run_id, kind, key, project, num, text, value)
    SELECT run_id, 'config', key, project, {_pg_typed("value")}
    FROM walk
    WHERE (jsonb_typeof(value) <> 'object' OR value = '{{}}'::jsonb)
      AND length(key) <= {KEY_LENGTH}
    """,
    f"""
    INSERT INTO run_cells (run_id, kind, key, project, num, text, value)
    SELECT r.id, 'summary', e.key, r.project, {_pg_typed("e.value")}
    FROM runs r, jsonb_each(r.summary) e WHERE length(e.key) <= {KEY_LENGTH}
    """,
    """
    INSERT INTO run_cells (run_id, kind, key, project, num, text, value)
    SELECT m.run_id, 'summary', m.key, r.project, m.last, NULL, NULL
    FROM metric_summary m JOIN runs r ON r.id = m.run_id
    ON CONFLICT DO NOTHING
    """,
]


def upgrade() -> None:
    op.create_table(
        "run_cells",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(KEY_LENGTH), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("num", sa.Float),
        sa.Column("text", sa.Text),
        sa.Column("value", sa.Text),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL if dialect == "postgresql" else SQLITE:
        op.execute(sa.text(statement))
    op.create_index("ix_run_cells_project_key_num", "run_cells", ["project", "kind", "key", "num"])
    op.create_index("ix_runs_project_listed", "runs", ["project", "deleted_at", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_runs_project_listed", table_name="runs")
    op.drop_index("ix_run_cells_project_key_num", table_name="run_cells")
    op.drop_table("run_cells")
