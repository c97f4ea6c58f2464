"""Integrity at the store's batch boundary, on SQLite and PostgreSQL alike: what is
refused (and named), what is cleaned, and summaries that always match the history."""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import (
    ArtifactDraft,
    Batch,
    FileEntry,
    Heartbeat,
    LogLines,
    Manifest,
    Op,
    Points,
    UpdateRun,
)
from assay.store import Store
from assay.store.sql import runs as sql_runs
from assay.store.sql.store import SqlStore
from tests.conftest import StoreFactory, create_op, create_run, points


@pytest.fixture
def store(sql_store_factory: StoreFactory) -> Store:
    return sql_store_factory()


def assert_summary_matches_history(store: Store, run_id: str) -> None:
    run = store.runs.get(run_id)
    for key, series in store.runs.history(run_id).items():
        m = run.metrics[key]
        finite = series.values[~np.isnan(series.values)]
        assert m.count == len(series), key
        assert (m.min, m.max) == (finite.min(), finite.max()), key
        assert (m.last, m.last_step) == (series.values[-1], series.steps[-1]), key


# ---- NUL characters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"name": "a\x00b"}, "run name"),
        ({"tags": ["ok", "t\x00"]}, "tag"),
        ({"notes": "n\x00"}, "notes"),
        ({"group": "g\x00"}, "group"),
        ({"job_type": "j\x00"}, "job type"),
        ({"config": {"opt": {"name": "sg\x00d"}}}, "config.opt.name"),
        ({"config": {"opt": {"na\x00me": 1}}}, "config.opt"),
        ({"config": {"xs": ["a", "b\x00"]}}, r"config.xs\[1\]"),
    ],
)
def test_a_nul_in_a_new_runs_fields_is_refused_naming_the_field(
    store: Store, fields: dict[str, Any], named: str
) -> None:
    run_id = new_run_id()
    with pytest.raises(InvalidInput, match=f"{named}.*(NUL|control character)"):
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=0, ops=[create_op(**fields)]))
    with pytest.raises(NotFound):
        store.runs.get(run_id)  # nothing was written


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"summary": {"best": "x\x00"}}, "summary.best"),
        ({"summary": {"k\x00": 1.0}}, "summary"),
        ({"config": {"lr": "\x00"}}, "config.lr"),
        ({"notes": "\x00"}, "notes"),
        ({"tags": ["\x00"]}, "tag"),
    ],
)
def test_a_nul_in_an_update_is_refused_and_nothing_changes(
    store: Store, fields: dict[str, Any], named: str
) -> None:
    run_id = create_run(store, config={"lr": 0.1})
    with pytest.raises(InvalidInput, match=f"{named}.*(NUL|control character)"):
        store.runs.write_batch(
            Batch(run_id=run_id, writer="w", seq=1, ops=[UpdateRun(at=time.time(), **fields)])
        )
    run = store.runs.get(run_id)
    assert (run.config, run.summary, run.notes, run.tags) == ({"lr": 0.1}, {}, None, [])


def test_a_nul_in_console_output_and_captured_host_data_is_replaced(store: Store) -> None:
    run_id = create_run(store)
    lines = LogLines(lines=[(time.time(), "stdout", "before\x00after")])
    host = UpdateRun(at=time.time(), host={"git": {"diff": "bin\x00ary"}}, traceback="t\x00b")
    assert store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[lines, host]))
    assert [x.text for x in store.runs.log_lines(run_id)] == ["before\ufffdafter"]
    run = store.runs.get(run_id)
    assert run.host["git"]["diff"] == "bin\ufffdary" and run.traceback == "t\ufffdb"


# ---- concurrent writers and rewritten steps ---------------------------------------------------


def test_concurrent_writers_creating_the_same_new_keys_keep_exact_summaries(
    store: Store,
) -> None:
    """Each writer sends its own steps of the same keys, all at once; every key's summary
    must count each point once (PostgreSQL lost updates when no summary row existed)."""
    writers, rounds, keys = 8, 6, [f"k{i}" for i in range(6)]
    run_id = create_run(store)
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(w: int) -> None:
        try:
            start.wait()
            for r in range(rounds):
                step = np.array([r * writers * 10 + w * 10 + i for i in range(10)])
                ops: list[Op] = [points(k, step, step * 0.5 + w) for k in keys]
                store.runs.write_batch(Batch(run_id=run_id, writer=f"writer{w}", seq=r, ops=ops))
        except BaseException as exc:  # reported below, from the main thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert_summary_matches_history(store, run_id)
    assert store.runs.get(run_id).metrics["k0"].count == writers * rounds * 10


def test_steps_rewritten_by_a_second_writer_are_counted_once(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="a",
            seq=1,
            ops=[points("x", list(range(10)), [float(i) for i in range(10)])],
        )
    )
    store.runs.write_batch(
        Batch(run_id=run_id, writer="b", seq=1, ops=[points("x", list(range(5, 15)), [1.0] * 10)])
    )
    assert store.runs.get(run_id).metrics["x"].count == 15
    assert_summary_matches_history(store, run_id)


def test_an_overwritten_extreme_leaves_the_summary(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="a", seq=1, ops=[points("x", [0, 1, 2], [-5.0, 1.0, 2.0])])
    )
    store.runs.write_batch(Batch(run_id=run_id, writer="b", seq=1, ops=[points("x", [0], [0.5])]))
    m = store.runs.get(run_id).metrics["x"]
    assert (m.min, m.max, m.count, m.last) == (0.5, 2.0, 3, 2.0)


def test_a_batch_with_a_step_repeated_inside_a_chunk_counts_it_once(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id, writer="a", seq=1, ops=[points("x", [0, 1, 1, 2], [1.0, 9.0, 3.0, 2.0])]
        )
    )
    m = store.runs.get(run_id).metrics["x"]
    assert (m.count, m.max) == (3, 3.0)
    assert_summary_matches_history(store, run_id)


# ---- times and numbers --------------------------------------------------------------------------

FAR_FUTURE = time.time() + 7 * 86400
IMPOSSIBLE_TIMES = [1e18, math.inf, -math.inf, math.nan, -1.0, FAR_FUTURE]


@pytest.mark.parametrize("at", IMPOSSIBLE_TIMES)
def test_an_impossible_creation_time_is_refused(store: Store, at: float) -> None:
    with pytest.raises(InvalidInput, match="created_at"):
        store.runs.write_batch(
            Batch(run_id=new_run_id(), writer="w", seq=0, ops=[create_op(created_at=at)])
        )


@pytest.mark.parametrize("at", IMPOSSIBLE_TIMES)
@pytest.mark.parametrize("kind", ["update", "heartbeat", "log line", "points"])
def test_impossible_run_times_are_refused_naming_the_field(
    store: Store, at: float, kind: str
) -> None:
    run_id = create_run(store)
    op: Op
    if kind == "update":
        op, named = UpdateRun(at=at, status="finished"), "update time"
    elif kind == "heartbeat":
        op, named = Heartbeat(at=at), "heartbeat time"
    elif kind == "log line":
        op, named = (
            LogLines(lines=[(time.time(), "stdout", "a"), (at, "stdout", "b")]),
            "log line time",
        )
    else:
        times = np.array([time.time(), at], dtype="<f8").tobytes()
        op = Points(
            key="loss", steps=np.arange(2, dtype="<i8").tobytes(), times=times, values=bytes(16)
        )
        named = "times of 'loss'"
    with pytest.raises(InvalidInput, match=named):
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[op]))
    assert store.runs.get(run_id).status == "running"


@pytest.mark.parametrize("seq", [-1, 2**63, 10**30])
def test_a_sequence_number_out_of_range_is_refused(store: Store, seq: int) -> None:
    run_id = create_run(store)
    with pytest.raises(InvalidInput, match="seq"):
        store.runs.write_batch(
            Batch(run_id=run_id, writer="w", seq=seq, ops=[Heartbeat(at=time.time())])
        )


@pytest.mark.parametrize(
    ("run_id", "writer", "named"), [("x" * 33, "w", "run id"), ("r", "w" * 33, "writer")]
)
def test_overlong_ids_are_refused(store: Store, run_id: str, writer: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        store.runs.write_batch(Batch(run_id=run_id, writer=writer, seq=0, ops=[create_op()]))


def test_a_number_too_big_for_the_store_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match=r"config\.seed"):
        store.runs.write_batch(
            Batch(run_id=new_run_id(), writer="w", seq=0, ops=[create_op(config={"seed": 10**400})])
        )


@pytest.mark.parametrize(
    ("steps", "times", "values"),
    [(7, 8, 8), (8, 8, 9), (16, 8, 8), (8, 16, 8), (8, 8, 16)],
)
def test_misaligned_point_bytes_are_refused_naming_the_key(
    store: Store, steps: int, times: int, values: int
) -> None:
    run_id = create_run(store)
    now = np.array([time.time()] * (times // 8), dtype="<f8").tobytes() + bytes(times % 8)
    op = Points(key="train/loss", steps=bytes(steps), times=now, values=bytes(values))
    with pytest.raises(InvalidInput, match="train/loss"):
        store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[op]))
    assert store.runs.history(run_id) == {}


# ---- non-finite numbers in config and summary -----------------------------------------------


def test_non_finite_config_and_summary_values_are_stored_as_the_sdk_sends_them(
    store: Store,
) -> None:
    config = {"lr": math.nan, "clip": math.inf, "floor": -math.inf, "ok": 1.5}
    run_id = create_run(store, config=config)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[UpdateRun(at=time.time(), summary={"s": math.nan})],
        )
    )
    run = store.runs.get(run_id)
    assert run.config == {"lr": "nan", "clip": "inf", "floor": "-inf", "ok": 1.5}
    assert run.summary == {"s": "nan"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config.lr == 'nan'", {"weird"}),
        ("config.clip > 100", {"weird"}),
        ("config.clip == inf", {"weird"}),
        ("config.floor < 0", {"weird"}),
        ("config.ok >= 1", {"weird", "plain"}),
        ("config.lr < 1", {"plain"}),
        ("config.lr == nan", set()),  # NaN equals nothing; find it as 'nan'
        ("summary.s == 'nan'", {"weird"}),
        ("summary.s is not null", {"weird"}),
    ],
)
def test_filters_work_when_a_project_holds_non_finite_config_values(
    store: Store, text: str, expected: set[str]
) -> None:
    weird = {"lr": math.nan, "clip": math.inf, "floor": -math.inf, "ok": 1.5}
    run_id = create_run(store, config=weird, name="weird")
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[UpdateRun(at=time.time(), summary={"s": math.nan})],
        )
    )
    create_run(store, config={"lr": 0.1, "clip": 1.0, "floor": 0.0, "ok": 1.0}, name="plain")
    assert {r.name for r in store.runs.list("p", text)} == expected


# ---- liveness on the store's clock --------------------------------------------------------------


def test_a_writer_whose_clock_is_ten_minutes_behind_reads_as_running(store: Store) -> None:
    behind = time.time() - 600
    run_id = create_run(store, at=behind)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[Heartbeat(at=behind), points("x", [0], [1.0], at=behind)],
        )
    )
    run = store.runs.get(run_id)
    assert run.status == "running"
    assert store.runs.count("p", "status == 'running'") == 1
    assert run.heartbeat_at == pytest.approx(behind)  # the writer's own times are kept


def test_a_run_silent_past_the_timeout_on_the_store_clock_reads_crashed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = create_run(store)
    later = time.time() + sql_runs.heartbeat_timeout() + 1
    monkeypatch.setattr(sql_runs, "store_clock", lambda: later)
    assert store.runs.get(run_id).status == "crashed"
    assert store.runs.count("p", "status == 'crashed'") == 1


def _resume(store: Store, run_id: str, writer: str) -> str:
    op = UpdateRun(at=time.time(), status="running")
    try:
        store.runs.write_batch(Batch(run_id=run_id, writer=writer, seq=0, ops=[op]))
    except Conflict:
        return "refused"
    return "resumed"


def test_a_second_writer_resuming_a_live_run_is_refused(store: Store) -> None:
    run_id = create_run(store)
    finish = UpdateRun(at=time.time(), status="finished")
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[finish]))
    assert _resume(store, run_id, "a") == "resumed"
    assert _resume(store, run_id, "b") == "refused"  # a is alive: b would overwrite its steps
    assert store.runs.get(run_id).status == "running"


def test_of_two_writers_resuming_at_once_exactly_one_goes_on(
    sql_store_factory: StoreFactory,
) -> None:
    first = sql_store_factory()
    run_id = create_run(first)
    finish = UpdateRun(at=time.time(), status="finished")
    first.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[finish]))
    stores = [sql_store_factory() for _ in range(2)]  # two processes' connections
    for trial in range(5):
        outcomes = _race(stores, run_id, f"t{trial}")
        assert sorted(outcomes) == ["refused", "resumed"], trial
        end = UpdateRun(at=time.time(), status="finished")
        first.runs.write_batch(Batch(run_id=run_id, writer=f"end{trial}", seq=0, ops=[end]))


def _race(stores: list[Store], run_id: str, name: str) -> list[str]:
    """Each store resumes the run at the same moment, from its own thread."""
    outcomes: list[str] = []
    start = threading.Barrier(len(stores))

    def resume(store: Store, writer: str) -> None:
        start.wait()
        outcomes.append(_resume(store, run_id, writer))

    threads = [
        threading.Thread(target=resume, args=(store, f"{name}-{i}"))
        for i, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_liveness_on_postgresql_is_judged_by_the_database_clock(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clients of one database, one whose clock is an hour ahead, agree that a run
    heard from just now is running (SQLite has no clock of its own: its file is read by
    this machine's)."""
    honest = SqlStore.from_url(postgres_url, blobs=tmp_path / "blobs")
    run_id = create_run(honest)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    ahead = SqlStore.from_url(postgres_url, blobs=tmp_path / "blobs")
    try:
        assert ahead.runs.get(run_id).status == "running"
        assert _resume(ahead, run_id, "late") == "refused"
    finally:
        ahead.close()
        honest.close()


# ---- NUL in what artifacts, models and evaluations carry ---------------------------------------


def _draft(store: Store, **fields: Any) -> ArtifactDraft:
    digest = store.blobs.put(b"weights")
    manifest = Manifest(files=[FileEntry(path="w.bin", size=7, digest=digest)])
    return ArtifactDraft(project="p", name="x", type="model", manifest=manifest, **fields)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"metadata": {"note": "a\x00b"}}, "metadata.note"),
        ({"metadata": {"a\x00": 1}}, "metadata: key"),
        ({"metadata": {"deep": [{"x": "\ud800"}]}}, "metadata.deep[0].x"),
        ({"description": "a\x00b"}, "description"),
    ],
)
def test_nul_in_what_an_artifact_carries_is_refused_alike(
    store: Store, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(named)):
        store.artifacts.commit(_draft(store, **fields))
    assert store.artifacts.list("p") == []


def test_nul_in_a_registered_model_is_refused_alike(store: Store) -> None:
    version = store.artifacts.commit(_draft(store))
    with pytest.raises(InvalidInput, match=r"tags\.stage"):
        store.models.register(version.id, "m", tags={"stage": "a\x00"})
    with pytest.raises(InvalidInput, match="description"):
        store.models.register(version.id, "m", description="a\x00")
    assert store.models.list() == []


# ---- version numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("number", [2**31, 2**63, 10**20])
def test_a_version_number_no_column_holds_is_not_found(store: Store, number: int) -> None:
    digest = store.blobs.put(b"weights")
    draft = ArtifactDraft(
        project="p",
        name="x",
        type="model",
        manifest=Manifest(files=[FileEntry(path="w.bin", size=7, digest=digest)]),
    )
    store.models.register(store.artifacts.commit(draft).id, "mdl")
    with pytest.raises(NotFound):
        store.artifacts.version("p", "x", f"v{number}")
    with pytest.raises(NotFound):
        store.artifacts.set_alias("p", "x", "best", number)
    with pytest.raises(NotFound):
        store.models.version("mdl", str(number))
    with pytest.raises(NotFound):
        store.models.set_alias("mdl", "prod", number)
    assert store.artifacts.version("p", "x", "v0").version == 0


def test_bounds_beyond_64_bits_are_clamped_or_refused(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", [0, 5], [1.0, 2.0])])
    )
    got = store.runs.series([run_id], ["x"], start=-(10**20), end=10**20)[(run_id, "x")]
    assert got.steps.tolist() == [0, 5]
    assert store.runs.series([run_id], ["x"], start=10**20)[(run_id, "x")].steps.tolist() == []
    with pytest.raises(InvalidInput, match="tail"):
        store.runs.log_lines(run_id, tail=10**20)
    with pytest.raises(InvalidInput, match="limit"):
        store.evaluations.list("p", limit=10**20)


def test_a_config_nested_beyond_reason_is_refused(store: Store) -> None:
    config: dict[str, Any] = {}
    inner = config
    for _ in range(5000):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(InvalidInput, match="nested deeper"):
        store.runs.write_batch(
            Batch(run_id=new_run_id(), writer="w", seq=0, ops=[create_op(config=config)])
        )
