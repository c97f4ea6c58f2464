"""The contract of ``store.runs``: every backend (SQLite, PostgreSQL, RemoteStore over
ASGI) must pass all of these."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_run_id
from assay.records import Batch, Heartbeat, LogLines, RunEdit, UpdateRun
from assay.store import Store
from assay.store.facets.runs import ManyBatches
from assay.store.sql import runs as sql_runs
from tests.conftest import StoreFactory, create_op, create_run, finish_op, points


def test_batch_replayed_is_applied_once(store: Store) -> None:
    run_id = create_run(store)
    batch = Batch(run_id=run_id, writer="w", seq=1, ops=[points("loss", [0, 1], [1.0, 0.5])])
    assert store.runs.write_batch(batch) is True
    assert store.runs.write_batch(batch) is False
    assert store.runs.get(run_id).metrics["loss"].count == 2
    assert list(store.runs.history(run_id)["loss"].values) == [1.0, 0.5]


def test_same_seq_from_another_writer_is_a_new_batch(store: Store) -> None:
    run_id = create_run(store)
    assert store.runs.write_batch(
        Batch(run_id=run_id, writer="a", seq=1, ops=[points("x", [0], [1.0])])
    )
    assert store.runs.write_batch(
        Batch(run_id=run_id, writer="b", seq=1, ops=[points("x", [1], [2.0])])
    )
    assert list(store.runs.history(run_id)["x"].steps) == [0, 1]


def test_batch_is_atomic_when_an_op_fails(store: Store) -> None:
    run_id = create_run(store)
    bad = Batch(
        run_id=run_id,
        writer="w",
        seq=1,
        ops=[points("ok", [0], [1.0]), points("bad", [0, 1], [1.0])],
    )
    with pytest.raises(InvalidInput, match="bad"):
        store.runs.write_batch(bad)
    assert store.runs.history(run_id) == {}
    # the failed batch was not claimed: fixed and resent, it applies
    assert store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("ok", [0], [1.0])])
    )


def test_two_point_sets_for_one_key_in_a_batch_are_refused(store: Store) -> None:
    run_id = create_run(store)
    bad = Batch(
        run_id=run_id, writer="w", seq=1, ops=[points("x", [0], [1.0]), points("x", [1], [2.0])]
    )
    with pytest.raises(InvalidInput, match="one set of points per key"):
        store.runs.write_batch(bad)


def test_batch_for_unknown_run_is_refused(store: Store) -> None:
    with pytest.raises(NotFound, match="nope"):
        store.runs.write_batch(
            Batch(run_id="nope", writer="w", seq=0, ops=[points("x", [0], [1.0])])
        )


def test_batches_delivered_together_apply_in_order_and_once(store: Store) -> None:
    runs = store.runs
    assert isinstance(runs, ManyBatches)
    run_id = new_run_id()
    batches = [
        Batch(run_id=run_id, writer="w", seq=0, ops=[create_op()]),
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", [0, 1], [1.0, 2.0])]),
        Batch(run_id=run_id, writer="w", seq=2, ops=[points("x", [1, 2], [5.0, 3.0]), finish_op()]),
    ]
    assert runs.write_batches(batches) == [True, True, True]
    assert runs.write_batches(batches) == [False, False, False]  # a retry duplicates nothing
    got = store.runs.get(run_id)
    assert got.status == "finished" and got.metrics["x"].count == 3
    history = store.runs.history(run_id)["x"]
    assert list(history.steps) == [0, 1, 2] and list(history.values) == [1.0, 5.0, 3.0]


@pytest.mark.parametrize("bad", ["unknown run", "invalid batch"])
def test_batches_delivered_together_apply_all_or_none(store: Store, bad: str) -> None:
    runs = store.runs
    assert isinstance(runs, ManyBatches)
    run_id = create_run(store)
    good = Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", [0], [1.0])])
    if bad == "unknown run":
        refused = Batch(run_id=new_run_id(), writer="w", seq=0, ops=[points("x", [0], [1.0])])
        error: type[Exception] = NotFound
    else:
        refused = Batch(run_id=run_id, writer="w", seq=2, ops=[points("y", [0, 1], [1.0])])
        error = InvalidInput
    with pytest.raises(error):
        runs.write_batches([good, refused])
    assert store.runs.history(run_id) == {}
    assert store.runs.write_batch(good) is True  # it was not applied, nor claimed


def test_run_fields_round_trip(store: Store) -> None:
    run_id = create_run(store, config={"lr": 0.1, "model": {"depth": 3}}, tags=["b", "a"])
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[
                UpdateRun(
                    at=time.time(), config={"extra": True}, summary={"best": 0.9}, notes="hello"
                )
            ],
        )
    )
    run = store.runs.get(run_id)
    assert run.config == {"lr": 0.1, "model": {"depth": 3}, "extra": True}
    assert run.summary == {"best": 0.9}
    assert run.tags == ["a", "b"]
    assert run.notes == "hello"
    assert run.status == "running" and run.finished_at is None


def test_tags_update_replaces_them(store: Store) -> None:
    run_id = create_run(store, tags=["old"])
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[UpdateRun(at=time.time(), tags=["new"])])
    )
    assert store.runs.get(run_id).tags == ["new"]


def test_finishing_sets_status_and_end_time(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[finish_op("failed")]))
    run = store.runs.get(run_id)
    assert run.status == "failed" and run.finished_at is not None


def test_summary_tracks_last_min_max_count(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("loss", [0, 1, 2], [3.0, 1.0, 2.0])])
    )
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=2, ops=[points("loss", [3, 4], [math.nan, 0.5])])
    )
    m = store.runs.get(run_id).metrics["loss"]
    assert (m.last, m.min, m.max, m.count, m.last_step) == (0.5, 0.5, 3.0, 5, 4)


def test_summary_last_follows_the_highest_step_not_arrival(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("acc", [10], [0.9])])
    )
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=2, ops=[points("acc", [5], [0.1])]))
    m = store.runs.get(run_id).metrics["acc"]
    assert (m.last, m.last_step) == (0.9, 10)


def test_nan_and_infinities_are_kept(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[points("x", [0, 1, 2], [math.nan, math.inf, -math.inf])],
        )
    )
    values = store.runs.history(run_id)["x"].values
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf
    assert math.isnan(store.runs.get(run_id).metrics["x"].last) is False  # last is -inf at step 2
    assert store.runs.get(run_id).metrics["x"].last == -math.inf


def test_last_write_wins_for_a_step(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", [0, 1, 2], [1.0, 2.0, 3.0])])
    )
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=2, ops=[points("x", [1], [20.0])]))
    series = store.runs.history(run_id)["x"]
    assert list(series.steps) == [0, 1, 2]
    assert list(series.values) == [1.0, 20.0, 3.0]


def test_many_small_batches_read_back_whole_after_merging(store: Store) -> None:
    run_id = create_run(store)
    total = sql_runs.MERGE_AFTER * 3 + 5
    for i in range(total):
        store.runs.write_batch(
            Batch(run_id=run_id, writer="w", seq=i + 1, ops=[points("x", [i], [float(i)])])
        )
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=total + 1, ops=[points("x", [3], [-1.0])])
    )
    series = store.runs.history(run_id)["x"]
    assert list(series.steps) == list(range(total))
    expected = [float(i) for i in range(total)]
    expected[3] = -1.0
    assert list(series.values) == expected


def test_history_selects_keys(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id, writer="w", seq=1, ops=[points("a", [0], [1.0]), points("b", [0], [2.0])]
        )
    )
    assert set(store.runs.history(run_id)) == {"a", "b"}
    assert set(store.runs.history(run_id, ["b"])) == {"b"}


def test_series_downsampled_keeps_spikes(store: Store) -> None:
    run_id = create_run(store)
    values = np.sin(np.arange(20_000) / 500.0)
    values[12_345] = 100.0
    values[777] = -100.0
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("x", np.arange(20_000), values)])
    )
    got = store.runs.series([run_id], ["x"], points=500)[(run_id, "x")]
    assert len(got) <= 500
    assert 100.0 in got.values and -100.0 in got.values
    assert got.steps[0] == 0 and got.steps[-1] == 19_999
    assert np.all(np.diff(got.steps) > 0)


def test_series_window_zooms_into_a_step_range(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[points("x", np.arange(10_000), np.arange(10_000.0))],
        )
    )
    got = store.runs.series([run_id], ["x"], points=100, start=2000, end=2099)[(run_id, "x")]
    assert got.steps.tolist() == list(range(2000, 2100))  # full resolution inside the zoom
    wide = store.runs.series([run_id], ["x"], points=100, start=5000)[(run_id, "x")]
    assert wide.steps[0] == 5000 and wide.steps[-1] == 9999 and len(wide) <= 100


def test_series_of_many_runs_in_a_window_is_their_history_in_that_window(store: Store) -> None:
    """Chunks outside the window are skipped, a later write of a step in another chunk
    still wins, and a series without points in the window is there, empty."""
    ids = [create_run(store) for _ in range(3)]
    for seq in range(4):  # a chunk per batch: steps 0-9, 10-19, 20-29, then 25 rewritten
        steps = [25] if seq == 3 else list(range(seq * 10, seq * 10 + 10))
        for n, run_id in enumerate(ids):
            ops = [points("x", steps, [100.0 * n + s + (0.5 if seq == 3 else 0) for s in steps])]
            ops += [points("y", [seq], [float(seq)])]
            store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=seq, ops=ops))
    got = store.runs.series([*ids, ids[0]], ["x", "y", "nothing"], 1000, 22, 27)
    assert sorted(got) == sorted((r, k) for r in ids for k in ("x", "y"))
    for n, run_id in enumerate(ids):
        x = got[(run_id, "x")]
        assert x.steps.tolist() == [22, 23, 24, 25, 26, 27]
        assert x.values.tolist() == [100.0 * n + s + (0.5 if s == 25 else 0) for s in range(22, 28)]
        assert got[(run_id, "y")].steps.tolist() == []
    one = store.runs.series(ids[:1], ["y"], 1000, 3, 3)[(ids[0], "y")]
    assert one.steps.tolist() == [3] and one.values.tolist() == [3.0]


def test_series_needs_a_sensible_point_count(store: Store) -> None:
    with pytest.raises(InvalidInput, match="points"):
        store.runs.series(["x"], ["y"], points=1)


def test_runs_filter_and_order(store: Store) -> None:
    ids = []
    for lr, acc, tag in [(0.1, 0.8, "a"), (0.01, 0.95, "baseline"), (0.001, 0.92, "baseline")]:
        run_id = create_run(store, config={"lr": lr, "opt": {"name": "sgd"}}, tags=[tag])
        store.runs.write_batch(
            Batch(run_id=run_id, writer="w", seq=1, ops=[points("acc", [0], [acc])])
        )
        ids.append(run_id)
    found = store.runs.list(
        "p",
        "config.lr < 0.05 and summary.acc > 0.9 and 'baseline' in tags",
        order_by=["-summary.acc"],
    )
    assert [r.id for r in found] == [ids[1], ids[2]]
    assert [r.id for r in store.runs.list("p", order_by=["config.lr"])] == [ids[2], ids[1], ids[0]]
    assert store.runs.count("p", "config.opt.name == 'sgd'") == 3
    assert store.runs.count("p", "'baseline' not in tags") == 1
    assert store.runs.list("other") == []


def test_runs_paging(store: Store) -> None:
    ids = [create_run(store, at=1000.0 + i) for i in range(5)]
    first = store.runs.list("p", order_by=["created"], limit=2)
    second = store.runs.list("p", order_by=["created"], limit=2, offset=2)
    assert [r.id for r in first + second] == ids[:4]


def test_user_summary_overrides_metric_last_in_filters(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[points("acc", [0], [0.5]), UpdateRun(at=time.time(), summary={"acc": 0.99})],
        )
    )
    assert store.runs.count("p", "summary.acc > 0.9") == 1
    assert store.runs.count("p", "metrics.acc.last < 0.9") == 1


def test_running_run_without_heartbeat_reads_crashed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Liveness is judged on the store's clock: old client times do not matter, silence
    does (the store's clock is moved past the timeout here)."""
    run_id = create_run(store, at=time.time() - 1000)
    assert store.runs.get(run_id).status == "running"
    later = time.time() + sql_runs.heartbeat_timeout() + 1
    monkeypatch.setattr(sql_runs, "store_clock", lambda: later)
    assert store.runs.get(run_id).status == "crashed"
    assert store.runs.count("p", "status == 'crashed'") == 1
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[Heartbeat(at=time.time())]))
    assert store.runs.get(run_id).status == "running"


def test_projects_count_runs(store: Store) -> None:
    create_run(store, project="a")
    create_run(store, project="a")
    create_run(store, project="b")
    got = {p.name: p.run_count for p in store.runs.projects()}
    assert got == {"a": 2, "b": 1}


def test_log_lines_in_order_and_tail(store: Store) -> None:
    run_id = create_run(store)
    lines = [(time.time(), "stdout", f"line {i}") for i in range(10)]
    store.runs.write_batch(Batch(run_id=run_id, writer="w", seq=1, ops=[LogLines(lines=lines)]))
    assert [x.text for x in store.runs.log_lines(run_id)] == [f"line {i}" for i in range(10)]
    assert [x.text for x in store.runs.log_lines(run_id, tail=2)] == ["line 8", "line 9"]


def test_large_git_diff_is_stored_as_a_blob(store: Store) -> None:
    run_id = create_run(store)
    diff = "+x\n" * 50_000
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[UpdateRun(at=time.time(), host={"git": {"commit": "abc", "diff": diff}})],
        )
    )
    git = store.runs.get(run_id).host["git"]
    assert "diff" not in git and git["commit"] == "abc"
    assert store.blobs.get(git["diff_blob"]).decode() == diff


def test_a_second_store_on_the_same_location_sees_the_data(store_factory: StoreFactory) -> None:
    first = store_factory()
    run_id = create_run(first)
    assert store_factory().runs.get(run_id).id == run_id


def test_non_finite_config_values_are_stored_and_filtered_alike_everywhere(store: Store) -> None:
    """A client other than the SDK may send NaN and infinities (msgpack carries them):
    every backend stores them as the SDK does ("nan", "inf", "-inf") and filters work."""
    run_id = create_run(store, config={"lr": math.nan, "clip": math.inf, "low": -math.inf})
    store.runs.write_batch(
        Batch(
            run_id=run_id,
            writer="w",
            seq=1,
            ops=[UpdateRun(at=time.time(), summary={"s": math.inf})],
        )
    )
    create_run(store, config={"lr": 0.1, "clip": 1.0, "low": 0.0})
    run = store.runs.get(run_id)
    assert run.config == {"lr": "nan", "clip": "inf", "low": "-inf"} and run.summary == {"s": "inf"}
    assert [r.id for r in store.runs.list("p", "config.clip > 10 and config.low < -10")] == [run_id]
    assert [r.id for r in store.runs.list("p", "config.lr == 'nan' and summary.s == inf")] == [
        run_id
    ]
    assert store.runs.count("p", "config.lr < 1") == 1


# ---- run management: edit, delete, restore, move ------------------------------------------


def test_a_deleted_run_is_hidden_from_lists_and_counts_until_restored(store: Store) -> None:
    kept, gone = create_run(store, name="kept"), create_run(store, name="gone")
    deleted = store.runs.delete(gone)
    assert deleted.deleted_at is not None
    assert [r.id for r in store.runs.list("p")] == [kept]
    assert store.runs.count("p") == 1
    assert [r.id for r in store.runs.list("p", deleted=True)] == [gone]
    assert store.runs.count("p", deleted=True) == 1
    assert [p.run_count for p in store.runs.projects() if p.name == "p"] == [1]
    assert store.runs.get(gone).deleted_at is not None  # still readable by id, to restore
    restored = store.runs.restore(gone)
    assert restored.deleted_at is None
    assert {r.id for r in store.runs.list("p")} == {kept, gone}
    assert store.runs.list("p", deleted=True) == []


def test_deleting_twice_or_restoring_a_live_run_is_a_conflict(store: Store) -> None:
    run_id = create_run(store)
    with pytest.raises(Conflict, match="not deleted"):
        store.runs.restore(run_id)
    store.runs.delete(run_id)
    with pytest.raises(Conflict, match="deleted already"):
        store.runs.delete(run_id)
    with pytest.raises(NotFound):
        store.runs.delete("nosuchrun")


def test_a_run_is_renamed_and_its_fields_edited(store: Store) -> None:
    run_id = create_run(store, tags=["a", "b"])
    edited = store.runs.update(
        run_id,
        RunEdit(name="better", notes="why", group="g1", job_type="train", add_tags=["c"]),
    )
    assert (edited.name, edited.notes, edited.group, edited.job_type) == (
        "better",
        "why",
        "g1",
        "train",
    )
    assert edited.tags == ["a", "b", "c"]
    again = store.runs.update(run_id, RunEdit(remove_tags=["a"], group=""))
    assert again.tags == ["b", "c"]
    assert again.group is None  # "" clears
    assert again.name == "better"  # None leaves a field alone
    assert store.runs.update(run_id, RunEdit(tags=["z"])).tags == ["z"]


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (RunEdit(name=""), "run name"),
        (RunEdit(name="a\nb"), "control character"),
        (RunEdit(tags=["ok", ""]), "tag"),
        (RunEdit(job_type="x" * 65), "job type"),
        (RunEdit(notes="a\x00b"), "NUL"),
    ],
)
def test_a_bad_edit_is_refused_naming_the_field(store: Store, edit: RunEdit, named: str) -> None:
    run_id = create_run(store, name="before")
    with pytest.raises(InvalidInput, match=named):
        store.runs.update(run_id, edit)
    assert store.runs.get(run_id).name == "before"


def test_a_run_moves_to_another_project_with_its_history(store: Store) -> None:
    run_id = create_run(store)
    store.runs.write_batch(
        Batch(run_id=run_id, writer="w", seq=1, ops=[points("loss", [0, 1], [1.0, 0.5])])
    )
    moved = store.runs.move(run_id, "elsewhere")
    assert moved.project == "elsewhere"
    assert store.runs.list("p") == []
    assert [r.id for r in store.runs.list("elsewhere")] == [run_id]
    assert list(store.runs.history(run_id)["loss"].values) == [1.0, 0.5]
    assert "elsewhere" in [p.name for p in store.runs.projects()]
    with pytest.raises(InvalidInput, match="project name"):
        store.runs.move(run_id, "bad name!")
