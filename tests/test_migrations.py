from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from assay.errors import SchemaMismatch
from assay.store import open_store
from assay.store.sql.schema import SCHEMA_REVISION, metadata


def test_migrated_schema_matches_the_metadata(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_new_store_is_at_head(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert (
            conn.execute(sa.text("select version_num from alembic_version")).scalar()
            == SCHEMA_REVISION
        )
    store.close()


def test_a_newer_schema_is_refused_before_writing(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'assay.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="9999"):
        open_store(tmp_path)


def test_an_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    from assay.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="cannot create"):
        open_store(blocker / "store")
