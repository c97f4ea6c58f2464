from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from assay.errors import SchemaMismatch, StoreUnavailable, StoreUnusable
from assay.store import open_store
from assay.store.sql.schema import SCHEMA_REVISION, metadata
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory


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
