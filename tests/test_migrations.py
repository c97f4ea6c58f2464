from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from assay.errors import SchemaMismatch, StoreUnavailable, StoreUnusable
from assay.packed import pack
from assay.records import RequestBatch, RequestEntry
from assay.sdk.requests import frame
from assay.store import open_store
from assay.store.sql import migrate
from assay.store.sql.schema import SCHEMA_REVISION, metadata, run_cells
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, create_run
from tests.test_run_cells import seed_mixed

# what each revision after 0005 added: (tables, columns of runs), newest first
ADDED = {
    "0023": ([], []),  # request-log columns may be packed (nothing added)
    "0022": (["run_cells"], []),
    "0021": (["request_labels"], []),  # and request_log rebuilt with one entry per request
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
INDEXES = {"0022": ["ix_runs_project_listed"]}  # indexes revisions added to older tables


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


def _migrate(store: object, revision: str, *, down: bool = False) -> None:
    """Alembic's upgrade or downgrade of the store's database to ``revision``."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    with engine_of(store).begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _old_entry(rid: str, at: float, x: Any = None, **changes: Any) -> dict[str, Any]:
    """An entry as revision 0020 stored it: one row, ``{name: value}``, its label inline."""
    pack = msgspec.msgpack.encode
    return {
        "model": "clf",
        "request_id": rid,
        "time": at,
        "version": "1",
        "arm": None,
        "status": 200,
        "latency_ms": 2.5,
        "inputs": pack({} if x is None else {"x": x}),
        "outputs": pack({} if x is None else {"y": x * 10}),
        "label": None,
        "labelled_at": None,
        **changes,
    }


OLD_LOG = sa.table(
    "request_log",
    *(
        sa.column(name)
        for name in (
            "model",
            "request_id",
            "time",
            "version",
            "arm",
            "status",
            "latency_ms",
            "inputs",
            "outputs",
            "label",
            "labelled_at",
        )
    ),
)


def test_upgrading_to_0021_makes_one_entry_of_each_request_of_several_rows(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    _migrate(store, "0020", down=True)
    label = {"label": msgspec.msgpack.encode("fraud"), "labelled_at": 50.0}
    old = [
        *(_old_entry(f"r/{i}", 10.0, float(i)) for i in range(3)),  # one request of 3 rows
        _old_entry("one", 11.0, 7.0, **label),
        _old_entry("refused", 12.0, status=400),
        _old_entry("gap/0", 13.0, 1.0),  # rows 0 and 2 only: not one request
        _old_entry("gap/2", 13.0, 2.0),
        _old_entry("x/0", 14.0, 1.0),  # "x" itself is an entry: left apart
        _old_entry("x/1", 14.0, 2.0),
        _old_entry("x", 15.0, 3.0),
        _old_entry("slow/0", 16.0, 1.0),  # other latencies: other requests
        _old_entry("slow/1", 16.0, 2.0, latency_ms=9.0),
    ]
    old[1] = {**old[1], **label}  # the label of row r/1
    with engine_of(store).begin() as conn:
        conn.execute(OLD_LOG.insert(), old)
    _migrate(store, "head")
    found = {e.request_id: e for e in store.requests.list("clf")}
    assert sorted(found) == sorted(
        ["r", "one", "refused", "gap/0", "gap/2", "x/0", "x/1", "x", "slow/0", "slow/1"]
    )
    r = found["r"]
    assert (r.rows, r.inputs, r.outputs) == (3, {"x": [0.0, 1.0, 2.0]}, {"y": [0.0, 10.0, 20.0]})
    assert [(lab.row, lab.label, lab.at) for lab in r.labels] == [(1, "fraud", 50.0)]
    assert [(lab.row, lab.label) for lab in found["one"].labels] == [(-1, "fraud")]
    assert (found["refused"].rows, found["refused"].inputs, found["refused"].status) == (0, {}, 400)
    assert found["gap/2"].rows == 1 and found["gap/2"].inputs == {"x": [2.0]}
    df = frame(store.requests.list("clf"))  # what users read is what they read before
    assert sorted(df["request_id"]) == sorted(e["request_id"] for e in old)
    assert df.set_index("request_id").loc["r/1", "label"] == "fraud"
    assert df.set_index("request_id").loc["r/2", "input.x"] == 2.0
    assert store.requests.label("clf", ["r/2", "r"], [0, 1]).matched == 2  # labels join


def test_downgrading_from_0021_splits_requests_back_into_rows_with_their_labels(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    columns = {"x": [0.0, 1.0, 2.0]}
    entries = [
        RequestEntry(model="clf", request_id="r", time=10.0, version="1", rows=3, inputs=columns),
        RequestEntry(
            model="clf", request_id="one", time=11.0, version="1", rows=1, inputs={"x": [5.0]}
        ),
        RequestEntry(model="clf", request_id="refused", time=12.0, version="1", rows=0, status=400),
    ]
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=entries))
    store.requests.label("clf", ["r", "r/2", "one"], ["all", "two", "single"])
    before = frame(store.requests.list("clf")).drop(columns="labelled_at")
    _migrate(store, "0020", down=True)
    with engine_of(store).connect() as conn:
        rows = conn.execute(sa.select(OLD_LOG).order_by(OLD_LOG.c.request_id)).all()
    unpack = msgspec.msgpack.decode
    got = [(r.request_id, unpack(r.inputs), r.label and unpack(r.label)) for r in rows]
    assert got == [
        ("one", {"x": 5.0}, "single"),
        ("r/0", {"x": 0.0}, "all"),
        ("r/1", {"x": 1.0}, "all"),
        ("r/2", {"x": 2.0}, "two"),
        ("refused", {}, None),
    ]
    _migrate(store, "head")  # and up again: the same log
    after = frame(store.requests.list("clf")).drop(columns="labelled_at")
    assert after.equals(before)


def test_downgrading_from_0023_turns_packed_columns_back_into_lists(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    x = np.array([0.5, float("nan"), 2.0])
    at = np.array(["2026-01-02T03:04:05", "NaT", "2026-01-03"], dtype="datetime64[s]")
    grid = np.arange(12, dtype=np.int16).reshape(3, 2, 2)
    entries = [
        RequestEntry(
            model="clf",
            request_id="packed",
            time=10.0,
            version="1",
            rows=3,
            inputs={"x": pack(x), "at": pack(at), "grid": pack(grid), "name": ["a", "b", None]},
            outputs={"p": pack(np.array([True, False, True]))},
        ),
        RequestEntry(
            model="clf", request_id="lists", time=11.0, version="1", rows=1, inputs={"x": [5.0]}
        ),
    ]
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=entries))
    before = frame(store.requests.list("clf"))
    _migrate(store, "0022", down=True)
    log = sa.Table("request_log", sa.MetaData(), autoload_with=engine_of(store))
    with engine_of(store).connect() as conn:
        rows = conn.execute(sa.select(log).order_by(log.c.request_id)).all()
    stored = {r.request_id: (msgspec.msgpack.decode(r.inputs), msgspec.msgpack.decode(r.outputs))
              for r in rows}  # fmt: skip
    inputs, outputs = stored["packed"]
    assert inputs["x"][0] == 0.5 and inputs["x"][1] != inputs["x"][1] and inputs["x"][2] == 2.0
    assert inputs["at"] == ["2026-01-02T03:04:05", "NaT", "2026-01-03T00:00:00"]
    assert inputs["grid"] == grid.tolist()
    assert inputs["name"] == ["a", "b", None]
    assert outputs == {"p": [True, False, True]}
    assert stored["lists"] == ({"x": [5.0]}, {})
    _migrate(store, "head")  # and up again: the same log, read as before
    after = frame(store.requests.list("clf"))
    assert after.equals(before)


def _cells(engine: sa.Engine) -> list[tuple[object, ...]]:
    c = run_cells.c
    query = sa.select(c.run_id, c.kind, c.key, c.project, c.num, c.text, c.value)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(c.run_id, c.kind, c.key)).all()
    return [(*row[:6], None if row[6] is None else json.loads(row[6])) for row in rows]


def test_upgrading_to_0022_fills_the_run_cells_the_writers_would(
    sql_store_factory: StoreFactory,
) -> None:
    store = sql_store_factory()
    seed_mixed(store)
    seed_mixed(store, project="q")
    engine = engine_of(store)
    written = _cells(engine)
    assert len(written) > 30
    with engine.begin() as conn:
        _rewind(conn, "0021")
    migrate.upgrade(engine)
    assert _cells(engine) == written
    assert store.runs.count("p", "summary.s < 1 and config.x >= 0") == 2
