"""`assay import tensorboard`: event files written by a real writer (tensorboardX), every
scalar point imported (no 10,000-point sampling), histograms, images and text as Assay
media compared value by value, idempotent, damaged files named."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.errors import ImportIncomplete, InvalidInput
from assay.importers.tensorboard import PR_COLUMNS
from assay.store import Store, open_store
from tests.conftest import StoreFactory

pytest.importorskip("tensorboard", reason="the importers extra is not installed")
tensorboardX = pytest.importorskip("tensorboardX", reason="tensorboardX is not installed")

STEPS = 12_000  # more than EventAccumulator's default sample of 10,000


def _write(folder: Path, steps: int, start: int = 0) -> None:
    writer = tensorboardX.SummaryWriter(str(folder))
    for step in range(start, start + steps):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        if step % 1000 == 0:
            writer.add_scalar("val/acc", step / 20_000, step)
            writer.add_histogram("weights", np.arange(10.0), step)
    writer.close()


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    root = tmp_path / "tb"
    _write(root / "exp" / "a", STEPS)
    _write(root / "exp" / "b", 3)
    return root


def _history(store: Store, name: str) -> dict[str, np.ndarray]:
    (run,) = [r for r in store.runs.list("tb", limit=100) if r.name == name]
    return {k: c.values for k, c in store.runs.history(run.id).items()}


def test_every_scalar_point_is_imported_with_its_step_and_time(
    logdir: Path, store_factory: StoreFactory
) -> None:
    from assay.importers.tensorboard import import_tensorboard

    store = store_factory()
    done = import_tensorboard(store, logdir)
    assert (done.runs, done.points, done.media) == (2, STEPS + 12 + 3 + 1, 13)
    assert not done.skipped
    values = _history(store, "exp/a")
    assert len(values["train/loss"]) == STEPS
    assert np.allclose(values["train/loss"], 1.0 / np.arange(1, STEPS + 1), rtol=1e-6)
    assert len(values["val/acc"]) == 12
    (run,) = [r for r in store.runs.list("tb") if r.name == "exp/a"]
    assert run.status == "finished" and run.finished_at is not None
    assert run.created_at <= run.finished_at


def test_reimporting_changes_nothing_and_a_restart_keeps_the_later_value(
    logdir: Path, tmp_path: Path
) -> None:
    from assay.importers.tensorboard import import_tensorboard

    store = open_store(tmp_path / "store")
    import_tensorboard(store, logdir)
    again = import_tensorboard(store, logdir)
    assert again.runs == 2
    assert len(store.runs.list("tb")) == 2
    assert len(_history(store, "exp/b")["train/loss"]) == 3
    restarted = tmp_path / "restart" / "r"
    _write(restarted, 3)
    writer = tensorboardX.SummaryWriter(str(restarted), filename_suffix=".second")
    writer.add_scalar("train/loss", 42.0, 1)  # the job resumed from step 1
    writer.close()
    import_tensorboard(store, restarted.parent, project="tb")
    assert _history(store, "r")["train/loss"].tolist() == pytest.approx([1.0, 42.0, 1.0 / 3])
    store.close()


def test_a_damaged_event_file_is_named_and_other_runs_come_in(logdir: Path, tmp_path: Path) -> None:
    from assay.importers.tensorboard import import_tensorboard

    (file,) = (logdir / "exp" / "b").iterdir()
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside a record: its checksum fails
    file.write_bytes(bytes(data))
    store = open_store(tmp_path / "store")
    named = r"run exp/b: events\.out\.tfevents\.[^ ]+, after record"
    with pytest.raises(ImportIncomplete, match=named):
        import_tensorboard(store, logdir)
    assert [r.name for r in store.runs.list("tb")] == ["exp/a"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="holds no TensorBoard event files"):
        import_tensorboard(store, tmp_path / "empty")
    store.close()


def test_the_cli_imports_a_logdir_and_names_what_it_did_not_import(
    logdir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["import", "tensorboard", str(logdir), "--uri", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs" in result.output and "13 media values" in result.output


def _write_media(folder: Path) -> dict[str, object]:
    """Histograms, images, text and a PR curve at known steps; what was written, to compare."""
    rng = np.random.default_rng(7)
    images = {s: rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for s in (0, 10, 20)}
    gray = rng.integers(0, 256, (4, 7), dtype=np.uint8)
    writer = tensorboardX.SummaryWriter(str(folder))
    for step, image in images.items():
        writer.add_image("samples/rgb", image, step, dataformats="HWC")
        writer.add_histogram("weights", rng.normal(size=500) * (step + 1), step)
        writer.add_text("notes", f"step {step}: ünïcode", step)
    writer.add_image("samples/gray", gray, 5, dataformats="HW")
    writer.add_histogram_raw(
        "raw", min=-1.0, max=3.0, num=10, sum=7.0, sum_squares=20.0,
        bucket_limits=[0.0, 1.0, 2.0, 3.0], bucket_counts=[1, 2, 3, 4], global_step=3,
    )  # fmt: skip
    writer.add_pr_curve("pr", np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.3]), 1)
    clip = np.sin(np.arange(800) / 9.0) * 0.5
    writer.file_writer.add_summary(_audio_summary("speech", clip, 8000), 4)
    writer.close()
    return {"images": images, "gray": gray, "audio": clip}


def _audio_summary(tag: str, clip: np.ndarray, rate: int) -> object:
    """The summary tensorboardX's ``add_audio`` writes (a 16-bit WAV clip in
    ``Summary.Audio``), encoded here with the standard library: ``add_audio`` itself
    needs the soundfile package."""
    from tensorboardX.proto.summary_pb2 import Summary

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((clip * 32767).astype("<i2").tobytes())
    audio = Summary.Audio(
        sample_rate=rate, num_channels=1, length_frames=len(clip),
        encoded_audio_string=out.getvalue(), content_type="audio/wav",
    )  # fmt: skip
    return Summary(value=[Summary.Value(tag=tag, audio=audio)])


def _event_values(folder: Path, tag: str) -> list[tuple[int, float, object]]:
    """(step, wall time, value proto) of ``tag`` in the folder's event files, as written."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    out = []
    for path in sorted(folder.iterdir()):
        for record in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(record)
            for value in event.summary.value:
                if value.tag == tag:
                    out.append((int(event.step), event.wall_time, value))
    return out


def _filled(counts: list[float], edges: list[float]) -> list[tuple[float, float, float]]:
    """The non-empty buckets: (left edge, right edge, count)."""
    return [(edges[i], edges[i + 1], c) for i, c in enumerate(counts) if c]


def test_histograms_images_and_text_come_in_as_media_value_by_value(tmp_path: Path) -> None:
    import assay
    from assay.importers.tensorboard import import_tensorboard

    pytest.importorskip("PIL", reason="images need Pillow (the media extra)")
    folder = tmp_path / "logs" / "m"
    written = _write_media(folder)
    uri = str(tmp_path / "store")
    store = open_store(uri)
    done = import_tensorboard(store, tmp_path / "logs", project="tb")
    assert (done.runs, done.media) == (1, 3 + 3 + 3 + 1 + 1 + 1 + 1)
    assert not done.skipped
    (run,) = store.runs.list("tb")
    stored_at = {(r.key, r.step): r.at for r in store.media.list(run.id, "weights")}
    store.close()
    with assay.Api(uri) as api:
        got = api.run(run.id)
        images = got.media("samples/rgb")
        assert [step for step, _ in images] == [0, 10, 20]
        for step, image in images:
            assert np.array_equal(image.to_numpy(), written["images"][step])  # type: ignore[index]
        ((step, gray),) = got.media("samples/gray")
        as_written = np.repeat(written["gray"][..., None], 3, axis=2)  # type: ignore[index]
        assert step == 5 and np.array_equal(gray.to_numpy(), as_written)  # tensorboardX: RGB
        histograms = got.media("weights")
        for (step, histogram), (wstep, at, value) in zip(
            histograms, _event_values(folder, "weights"), strict=True
        ):
            proto = value.histo  # type: ignore[attr-defined]
            assert step == wstep and stored_at["weights", step] == pytest.approx(at)
            edges = [proto.min, *list(proto.bucket_limit)[:-1], proto.max]
            assert len(proto.bucket) > 512  # TensorFlow's buckets: empty runs are merged
            assert _filled(histogram.counts.tolist(), histogram.edges.tolist()) == _filled(
                list(proto.bucket), edges
            )
            assert histogram.counts.sum() == proto.num == 500
        ((step, raw),) = got.media("raw")
        assert step == 3 and raw.counts.tolist() == [1, 2, 3, 4]
        assert raw.edges.tolist() == [-1.0, 0.0, 1.0, 2.0, 3.0]
        texts = got.media("notes/text_summary")
        assert [(s, str(t)) for s, t in texts] == [(s, f"step {s}: ünïcode") for s in (0, 10, 20)]
        ((step, audio),) = got.media("speech")
        assert step == 4 and audio.sample_rate == 8000
        with wave.open(io.BytesIO(audio.data)) as clip:
            assert (clip.getframerate(), clip.getnchannels()) == (8000, 1)
            samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
        as_written = (written["audio"] * 32767).astype(np.int16)  # type: ignore[operator]
        assert np.array_equal(samples, as_written)  # tensorboardX writes 16-bit WAV
        ((step, curve),) = got.media("pr")
        frame = curve.to_pandas()
        assert step == 1 and list(frame.columns) == PR_COLUMNS
        ((_, _, value),) = _event_values(folder, "pr")
        from tensorboard.util import tensor_util

        tp, fp, tn, fn, precision, recall = tensor_util.make_ndarray(value.tensor)  # type: ignore[attr-defined]
        assert np.allclose(frame["threshold"], np.linspace(0, 1, len(tp)))
        for column, expected in zip(
            PR_COLUMNS[1:], (precision, recall, tp, fp, tn, fn), strict=True
        ):
            assert np.allclose(frame[column], expected)
        assert frame["TP"].iloc[0] == 2 and frame["FN"].iloc[0] == 0  # every label found at 0


def test_reimporting_media_changes_nothing(tmp_path: Path) -> None:
    from assay.importers.tensorboard import import_tensorboard

    pytest.importorskip("PIL", reason="images need Pillow (the media extra)")
    _write_media(tmp_path / "logs" / "m")
    store = open_store(tmp_path / "store")
    first = import_tensorboard(store, tmp_path / "logs", project="tb")
    (run,) = store.runs.list("tb")
    keys = store.media.keys(run.id)
    again = import_tensorboard(store, tmp_path / "logs", project="tb")
    assert again.media == first.media and store.media.keys(run.id) == keys
    assert [(k.key, k.count) for k in keys] == [
        ("notes/text_summary", 3), ("pr", 1), ("raw", 1), ("samples/gray", 1),
        ("samples/rgb", 3), ("speech", 1), ("weights", 3),
    ]  # fmt: skip
    store.close()


def test_a_damaged_image_fails_its_run_by_name(tmp_path: Path) -> None:
    from tensorboardX.proto.summary_pb2 import Summary

    from assay.importers.tensorboard import import_tensorboard

    writer = tensorboardX.SummaryWriter(str(tmp_path / "logs" / "bad"))
    writer.add_scalar("loss", 1.0, 0)
    broken = Summary.Image(height=2, width=2, colorspace=3, encoded_image_string=b"not a png")
    writer._get_file_writer().add_summary(
        Summary(value=[Summary.Value(tag="sample", image=broken)]), 4
    )
    writer.close()
    store = open_store(tmp_path / "store")
    with pytest.raises(ImportIncomplete, match=r"run bad: .*'sample' at step 4"):
        import_tensorboard(store, tmp_path / "logs", project="tb")
    assert store.runs.list("tb") == []  # never half a run
    store.close()
