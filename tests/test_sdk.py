"""The SDK in the training process: logging, lifecycle, modes, outages, capture."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay.errors import Conflict, NotFound, StoreUnavailable
from assay.records import Batch
from assay.sdk import journal as jnl
from assay.sdk import writer as writer_mod
from assay.sdk.capture import REDACTED, environment
from assay.sdk.settings import Settings
from assay.sdk.sync import sync
from assay.store import Store, open_store
from assay.store.base import journal_root
from tests.conftest import QUIET
from tests.services import free_port


def stored(uri: str, run_id: str) -> Any:
    return assay.Api(uri).run(run_id)


def test_two_lines_log_a_run(store_uri: str) -> None:
    run = assay.init(
        project="digits",
        config={"lr": 0.1, "model": {"depth": 3}},
        tags=["baseline"],
        uri=store_uri,
        settings=QUIET,
    )
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 5})
    run.finish()
    got = stored(store_uri, run.id)
    assert got.status == "finished" and got.project == "digits" and got.tags == ["baseline"]
    assert got.config_value("model.depth") == 3
    assert got.metrics["loss"].count == 5 and got.metrics["acc"].last == pytest.approx(0.8)
    assert list(journal_root(store_uri).rglob("*.jnl")) == []  # delivered, so cleaned up


def test_steps_auto_increment_and_follow_explicit_steps(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"a": 1.0})
        run.log({"a": 2.0}, step=10)
        run.log({"a": 3.0})
        run.log({"a": 4.0}, step=5)  # rewrite an earlier step
        assert run.step == 12
    series = stored(store_uri, run.id).history(["a"], format="numpy")["a"]
    assert list(series.steps) == [0, 5, 10, 11]
    assert list(series.values) == [1.0, 4.0, 2.0, 3.0]


def test_numpy_and_tensor_like_values_become_floats(store_uri: str) -> None:
    class FakeTensor:  # what torch and jax 0-d tensors offer, without importing them
        shape = ()

        def item(self) -> float:
            return 0.25

    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log(
            {
                "np32": np.float32(0.5),
                "np0d": np.array(2.0),
                "t": FakeTensor(),
                "b": True,
                "nan": math.nan,
                "inf": -math.inf,
            }
        )
    history = stored(store_uri, run.id).history(format="numpy")
    assert history["np32"].values[0] == 0.5 and history["np0d"].values[0] == 2.0
    assert history["t"].values[0] == 0.25 and history["b"].values[0] == 1.0
    assert math.isnan(history["nan"].values[0]) and history["inf"].values[0] == -math.inf


def test_config_and_summary_updates_are_recorded(store_uri: str) -> None:
    with assay.init(project="p", config={"lr": 0.1}, uri=store_uri, settings=QUIET) as run:
        run.config.update({"batch": 32})
        run.config["warmup"] = 5
        run.summary["best_acc"] = 0.95
        run.tags = ["a", "b"]
        run.notes = "first try"
        assert run.config["batch"] == 32 and dict(run.summary) == {"best_acc": 0.95}
    got = stored(store_uri, run.id)
    assert got.config == {"lr": 0.1, "batch": 32, "warmup": 5}
    assert got.summary["best_acc"] == 0.95 and got.tags == ["a", "b"] and got.notes == "first try"


def test_context_manager_marks_failure_with_traceback(store_uri: str) -> None:
    with pytest.raises(RuntimeError), assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"x": 1.0})
        raise RuntimeError("diverged")
    got = stored(store_uri, run.id)
    assert got.status == "failed" and "RuntimeError: diverged" in got.traceback


def test_keyboard_interrupt_marks_the_run_killed(store_uri: str) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        assay.init(project="p", uri=store_uri, settings=QUIET) as run,
    ):
        raise KeyboardInterrupt
    assert stored(store_uri, run.id).status == "killed"


def test_module_level_twins_act_on_the_active_run(store_uri: str) -> None:
    run = assay.init(project="p", uri=store_uri, settings=QUIET)
    assert assay.active_run() is run
    assay.log({"x": 1.0})
    assert assay.flush() is True
    assert stored(store_uri, run.id).metrics["x"].count == 1
    assay.finish()
    assert assay.active_run() is None
    assert stored(store_uri, run.id).status == "finished"
    with pytest.raises(assay.errors.InvalidInput, match=r"assay\.init"):
        assay.log({"x": 1.0})


def test_log_after_finish_is_refused_with_one_warning(
    store_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = assay.init(project="p", uri=store_uri, settings=QUIET)
    run.log({"x": 1.0})
    run.finish()
    run.log({"x": 2.0})
    run.log({"x": 3.0})
    assert [r.getMessage() for r in caplog.records].count(
        f"assay: run {run.id} is finished; log() after finish() is not recorded"
    ) == 1
    assert stored(store_uri, run.id).metrics["x"].count == 1
    assert run.flush() is True  # after finish: nothing left, and no error
    run.finish()  # a second finish is a no-op


def test_flush_makes_data_visible_before_finish(store_uri: str) -> None:
    run = assay.init(project="p", uri=store_uri, settings=QUIET)
    run.log({"x": 1.0})
    assert run.flush() is True
    got = stored(store_uri, run.id)
    assert got.status == "running" and got.metrics["x"].count == 1
    run.finish()


def test_resume_continues_the_steps(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as first:
        for i in range(3):
            first.log({"x": float(i)})
    with assay.init(project="p", uri=store_uri, id=first.id, resume=True, settings=QUIET) as again:
        assert again.step == 3
        again.log({"x": 3.0})
    got = stored(store_uri, first.id)
    assert (
        got.status == "finished" and got.metrics["x"].count == 4 and got.metrics["x"].last_step == 3
    )


def test_reusing_an_id_without_resume_is_a_conflict(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as first:
        pass
    with pytest.raises(Conflict, match="resume=True"):
        assay.init(project="p", uri=store_uri, id=first.id, settings=QUIET)
    with pytest.raises(NotFound):
        assay.init(project="p", uri=store_uri, id="missing", resume="must", settings=QUIET)


def test_offline_mode_only_journals_until_sync(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, mode="offline", settings=QUIET) as run:
        run.log({"x": 1.0})
    store = open_store(store_uri)
    with pytest.raises(NotFound):
        store.runs.get(run.id)
    report = sync(journal_root(store_uri), store)
    assert report.batches >= 1 and report.crashed == []
    got = store.runs.get(run.id)
    assert got.status == "finished" and got.metrics["x"].count == 1
    store.close()


def test_disabled_mode_checks_calls_and_keeps_nothing(store_uri: str) -> None:
    run = assay.init(project="p", uri=store_uri, mode="disabled", settings=QUIET)
    run.log({"x": 1.0})
    with pytest.raises(assay.errors.InvalidInput):
        run.log({"x": "no"})
    run.finish()
    assert not Path(store_uri).exists()


class FlakyStore:
    """A store twin that is down while ``down`` is set (its own runs facet: the writer
    uses no other)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = threading.Event()
        self.calls = 0

    @property
    def runs(self) -> FlakyStore:
        return self

    def write_batch(self, batch: Batch) -> bool:
        self.calls += 1
        if self.down.is_set():
            raise StoreUnavailable("the store is down (test)")
        return self.inner.runs.write_batch(batch)

    def close(self) -> None:
        pass


def flaky_run(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, down: bool
) -> tuple[Any, FlakyStore]:
    flaky = FlakyStore(open_store(store_uri))
    if down:
        flaky.down.set()
    monkeypatch.setattr("assay.sdk.init.open_store", lambda uri: flaky)
    monkeypatch.setattr(writer_mod, "MAX_BACKOFF", 0.05)
    settings = Settings(**{**QUIET.__dict__, "flush_interval": 0.01, "finish_timeout": 10})
    return assay.init(project="p", uri=store_uri, settings=settings), flaky


def test_store_outage_never_reaches_the_training_loop(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run, flaky = flaky_run(store_uri, monkeypatch, down=True)
    for i in range(2000):
        run.log({"x": float(i)})
    assert run.flush(timeout=5) is False  # durable in the journal, not yet in the store
    assert flaky.calls > 0
    warnings = [r for r in caplog.records if "cannot deliver" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not once per retry
    flaky.down.clear()
    run.finish()
    got = flaky.inner.runs.get(run.id)
    assert got.status == "finished" and got.metrics["x"].count == 2000


class Refusing(FlakyStore):
    """A store twin that refuses one batch as invalid, as a server of another version might."""

    def __init__(self, inner: Store, refuse_seq: int) -> None:
        super().__init__(inner)
        self.refuse_seq = refuse_seq

    def write_batch(self, batch: Batch) -> bool:
        if batch.seq == self.refuse_seq:
            raise assay.errors.InvalidInput("unknown operation (test)")
        return super().write_batch(batch)


def test_a_refused_batch_is_set_aside_and_delivery_goes_on(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = Refusing(open_store(store_uri), refuse_seq=-1)
    monkeypatch.setattr("assay.sdk.init.open_store", lambda uri: refusing)
    run = assay.init(project="p", uri=store_uri, settings=QUIET)
    run.flush()  # the run and what was captured of its host
    assert run._writer is not None
    refused = refusing.refuse_seq = run._writer._seq
    run.log({"x": 1.0})
    run.flush()  # refused
    run.log({"x": 2.0})
    journal = run.journal_dir
    assert run.finish() is True  # set aside is not lost: the rejected file keeps it
    assert any(f"refused batch {refused}" in r.getMessage() for r in caplog.records)
    got = refusing.inner.runs.get(run.id)
    assert got.status == "finished" and got.metrics["x"].count == 1  # the next went through
    assert journal is not None
    rejected = list(journal.glob("*.rejected"))
    assert len(rejected) == 1 and [b.seq for b in jnl.read_journal(rejected[0])] == [refused]


def test_memory_spills_to_the_journal_and_delivery_reads_it_back(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "MAX_PENDING_POINTS", 50)
    run, flaky = flaky_run(store_uri, monkeypatch, down=True)
    for i in range(1000):
        run.log({"x": float(i)}, step=i)
        if i % 100 == 0:
            run.flush(timeout=5)
    assert run._writer is not None and run._writer._spilled
    assert len(run._writer._pending) == 0  # nothing held in memory past the limit
    flaky.down.clear()
    run.finish()
    series = flaky.inner.runs.history(run.id, ["x"])["x"]
    assert list(series.steps) == list(range(1000))


def test_log_spills_synchronously_past_the_buffer_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "SPILL_STEPS", 100)
    journal = jnl.JournalWriter(tmp_path / "r" / "w.jnl")
    writer = writer_mod.Writer(
        "r", "w", journal, None
    )  # thread not started: only the spill can act
    for i in range(150):
        writer.add_points((i, 0.0, {"x": 1.0}))
    assert len(writer.points) == 50
    batches = list(jnl.read_journal(journal.path))
    assert len(batches) == 1 and len(batches[0].ops[0].steps) == 100 * 8
    journal.close()


def test_a_large_backlog_is_cut_into_bounded_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "MAX_BATCH_POINTS", 1000)
    journal = jnl.JournalWriter(tmp_path / "r" / "w.jnl")
    writer = writer_mod.Writer("r", "w", journal, None)
    for i in range(2500):
        writer.add_points((i, 0.0, {"a": 1.0, "b": 2.0}))
    writer._cut_batch()
    batches = list(jnl.read_journal(journal.path))
    sizes = [sum(len(op.values) // 8 for op in b.ops) for b in batches]
    assert sizes == [1000] * 5 and len(writer.points) == 0
    journal.close()


def test_store_unreachable_at_init_still_records_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_dir = tmp_path / "journals"
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(journal_dir))
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    settings = Settings(**{**QUIET.__dict__, "finish_timeout": 0.5})
    run = assay.init(project="p", uri=uri, settings=settings)
    run.log({"x": 1.0})
    assert run.finish() is False  # it waits in the journal
    assert run.status == "finished"
    store = open_store(tmp_path / "elsewhere")
    report = sync(journal_dir, store)
    assert report.batches >= 1 and store.runs.get(run.id).metrics["x"].count == 1
    store.close()


def test_console_output_is_captured(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(**{**QUIET.__dict__, "capture_console": True})
    with assay.init(project="p", uri=store_uri, settings=settings) as run:
        print("epoch 1 done")
        print("partial", end="")
        print(" line")
    lines = [line.text for line in stored(store_uri, run.id).log_lines()]
    assert lines == ["epoch 1 done", "partial line"]
    assert "epoch 1 done" in capsys.readouterr().out  # still printed


def test_system_metrics_are_sampled(store_uri: str) -> None:
    settings = Settings(**{**QUIET.__dict__, "system_metrics_interval": 0.05})
    with assay.init(project="p", uri=store_uri, settings=settings) as run:
        run.log({"x": 1.0})
        time.sleep(0.3)
    metrics = stored(store_uri, run.id).metrics
    assert metrics["system/cpu_percent"].count >= 2
    assert {"system/memory_percent", "system/proc_rss_mb", "system/disk_percent"} <= set(metrics)
    assert metrics["x"].last_step == 0  # system samples do not move the user's steps


def test_host_capture_records_git_env_and_packages(
    store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_API_KEY", "sk-very-secret")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    settings = Settings(capture_console=False, system_metrics_interval=0, handle_signals=False)
    with assay.init(project="p", uri=store_uri, settings=settings) as run:
        pass
    host = stored(store_uri, run.id).host
    assert host["env"]["ASSAY_API_KEY"] == REDACTED and host["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    # (the git diff is left out: it may hold this very test file)
    assert "sk-very-secret" not in str({k: v for k, v in host.items() if k != "git"})
    assert "msgspec" in {k.lower() for k in host["packages"]}
    assert host["python"] and host["hostname"] and host["argv"]
    assert host["git"] is None or len(host["git"]["commit"]) == 40


def test_capture_can_be_turned_off(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        pass
    host = stored(store_uri, run.id).host
    assert "git" not in host and "packages" not in host


@pytest.mark.parametrize(
    "name", ["AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "DB_PASSWORD", "GCP_CREDENTIALS"]
)
def test_secret_names_are_redacted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "hunter2")
    assert environment(prefixes=(name[:3],))[name] == REDACTED
