from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from assay.errors import SchemaMismatch, StoreUnavailable, StoreUnusable
from assay.store import open_store
from assay.store.sql import migrate
from assay.store.sql.schema import SCHEMA_REVISION, metadata, run_cells
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, create_run
from tests.test_run_cells import seed_mixed

# what each revision after 0005 added: (tables, columns of runs), newest first
ADDED = {
    "0021": (["run_cells"], []),
    "0020": (["trace_feedback"], []),
    "0019": (["model_servers"], []),
    "0018": (["prompt_labels"], []),
    "0016": (["label_annotator_kinds"], []),  # its columns go with 0008's tables
    "0013": (["monitor_alerts"], []),
    "0012": (["spans", "traces"], []),
    "0011": (["sweep_trials", "sweeps"], ["deleted_at", "delete_artifacts"]),
    "0010": (["traffic_policies"], []),
    "0009": (["media"], []),
    "0008": (
        [
            "label_feedback",
            "label_annotators",
            "label_annotations",
            "label_items",
            "label_projects",
        ],
        [],
    ),
    "0007": (["request_log", "request_batches"], []),
    "0006": ([], ["seen_at"]),
}
INDEXES = {"0021": ["ix_runs_project_listed"]}  # indexes revisions added to older tables


def _rewind(conn: sa.Connection, revision: str) -> None:
    """Drop by hand what the revisions after ``revision`` added (SQLite), and say so."""
    assert max(ADDED) == SCHEMA_REVISION  # a new revision adds its line above
    for later, (tables, columns) in ADDED.items():
        if later > revision:
            for index in INDEXES.get(later, []):
                conn.execute(sa.text(f"DROP INDEX {index}"))
            for table in tables:
                conn.execute(sa.text(f"DROP TABLE {table}"))
            for column in columns:
                conn.execute(sa.text(f"ALTER TABLE runs DROP COLUMN {column}"))
    conn.execute(sa.text(f"UPDATE alembic_version SET version_num = '{revision}'"))


def engine_of(store: object) -> sa.Engine:
    assert isinstance(store, SqlStore)
    return store.engine


def test_migrated_schema_matches_the_metadata(sql_store_factory: StoreFactory) -> None:
    with engine_of(sql_store_factory()).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_new_store_is_at_head(sql_store_factory: StoreFactory) -> None:
    with engine_of(sql_store_factory()).connect() as conn:
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar()
    assert version == SCHEMA_REVISION


def test_a_newer_schema_is_refused_before_writing(sql_store_factory: StoreFactory) -> None:
    with engine_of(sql_store_factory()).begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '9999'"))
    with pytest.raises(SchemaMismatch, match="9999"):
        sql_store_factory()


def test_an_unusable_location_is_a_clear_error_not_an_outage(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnusable, match="cannot create"):
        open_store(blocker / "store")


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="cannot open"):
        SqlStore.from_url("postgresql://nobody@127.0.0.1:9/none", blobs=Path("/nonexistent"))


def _legacy_config(store: SqlStore, run_id: str) -> None:
    """What a store written before non-finite numbers were refused may hold: JSON with
    NaN and Infinity, which SQLite's JSON functions call malformed."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET config = :c WHERE id = :id"),
            {"c": '{"lr": NaN, "clip": Infinity, "ok": 1}', "id": run_id},
        )


def test_a_read_failure_names_no_store_path(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    _legacy_config(store, create_run(store))
    with pytest.raises(StoreUnavailable) as info:
        store.runs.count("p", "config.ok is null")
    assert str(tmp_path) not in str(info.value)
    store.close()


def test_upgrading_repairs_non_finite_numbers_in_sqlite_json(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    run_id = create_run(store)
    _legacy_config(store, run_id)
    with store.engine.begin() as conn:  # back to revision 0005, before runs.seen_at
        _rewind(conn, "0005")
    store.close()
    store = SqlStore.embedded(tmp_path / "store")
    assert store.runs.get(run_id).config == {"lr": "nan", "clip": "inf", "ok": 1}
    assert store.runs.count("p", "config.ok == 1 and config.clip > 1") == 1
    assert store.runs.get(run_id).status == "running"  # seen_at starts from the last heartbeat
    store.close()


def test_upgrading_from_0006_keeps_runs_and_none_reads_as_deleted(tmp_path: Path) -> None:
    store = SqlStore.embedded(tmp_path / "store")
    run_id = create_run(store)
    with store.engine.begin() as conn:  # back to revision 0006, before soft deletion
        _rewind(conn, "0006")
    store.close()
    store = SqlStore.embedded(tmp_path / "store")
    assert [r.id for r in store.runs.list("p")] == [run_id]
    assert store.runs.get(run_id).deleted_at is None
    store.runs.delete(run_id)
    assert store.runs.list("p") == []
    store.close()


def _cells(engine: sa.Engine) -> list[tuple[object, ...]]:
    c = run_cells.c
    query = sa.select(c.run_id, c.kind, c.key, c.project, c.num, c.text, c.value)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(c.run_id, c.kind, c.key)).all()
    return [(*row[:6], None if row[6] is None else json.loads(row[6])) for row in rows]


def test_upgrading_to_0021_fills_the_run_cells_the_writers_would(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    seed_mixed(store)
    seed_mixed(store, project="q")
    engine = engine_of(store)
    written = _cells(engine)
    assert len(written) > 30
    with engine.begin() as conn:
        _rewind(conn, "0020")
    migrate.upgrade(engine)
    assert _cells(engine) == written
    assert store.runs.count("p", "summary.s < 1 and config.x >= 0") == 2
