"""`assay import wandb`: run files written by the real W&B SDK in offline mode, every
history point imported with its step and time, media values byte for byte (images with
their masks and boxes, in table cells too; audio, html, video), idempotent, damaged
files named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.errors import ImportIncomplete
from assay.store import Store, open_store
from tests.conftest import StoreFactory

pytest.importorskip("wandb", reason="the wandb extra is not installed")

STEPS = 3000

SCRIPT = textwrap.dedent(
    """
    import io, wave, numpy as np, wandb
    from tests.test_import_wandb import (BOXES, CELL_BOXES, CLASSES, MP4, pixels, samples,
                                         segments, write_gif)
    run = wandb.init(project="vision", name="resnet", config={"lr": 0.01, "layers": [64, 128]},
                     tags=["baseline"], notes="first try", group="sweep-1", job_type="train")
    with wave.open("clip.wav", "wb") as clip:
        clip.setnchannels(2); clip.setsampwidth(2); clip.setframerate(8000)
        clip.writeframes(samples().astype("<i2").tobytes())
    with wave.open("chirp.wav", "wb") as clip:
        clip.setnchannels(1); clip.setsampwidth(2); clip.setframerate(16000)
        clip.writeframes(samples()[:, 1].astype("<i2").tobytes())
    write_gif("spin.gif")
    for step in range(STEPS):
        row = {"train/loss": 1.0 / (step + 1)}
        if step % 100 == 0:
            row["val/acc"] = step / 10_000
        if step == 7:
            row["sample"] = wandb.Image(pixels(step), caption=f"seen at {step}")
        if step == 8:
            seg = {"mask_data": segments(), "class_labels": {0: "sky", 1: "cat", 2: "dog"}}
            row["sample"] = wandb.Image(pixels(step), caption=f"seen at {step}",
                                        masks={"seg": seg}, boxes=BOXES)
        if step == 7:
            row["odd"] = float("nan")
            row["page"] = wandb.Html("<b>not an image</b>")  # W&B injects its stylesheet
            row["pages"] = [wandb.Html("<p>one</p>", inject=False),
                            wandb.Html("<p>two \u00e9</p>", inject=False)]
            row["spin"] = wandb.Video("spin.gif", caption="spinning")
            row["clips"] = [wandb.Video("spin.gif"),
                            wandb.Video(io.BytesIO(MP4), format="mp4", caption="ftyp")]
            row["cloud"] = wandb.Object3D(np.zeros((4, 3)))  # a kind Assay does not import
            row["pair"] = [wandb.Image(pixels(1), boxes={"truth": BOXES["truth"]}),
                           wandb.Image(pixels(2)[:4])]
            row["voice"] = wandb.Audio("clip.wav", caption="hum")
            row["voices"] = [wandb.Audio("clip.wav", caption="left"),
                             wandb.Audio("chirp.wav", caption="right")]
            table = wandb.Table(columns=["id", "score", "crop", "label"])
            classes = wandb.Classes([{"id": k, "name": v} for k, v in CLASSES.items()])
            boxed = wandb.Image(pixels(3), boxes={"pred": {"box_data": CELL_BOXES}},
                                masks={"seg": {"mask_data": segments(),
                                               "class_labels": CLASSES}},
                                classes=classes)
            table.add_data(1, 0.5, boxed, "cat")
            table.add_data(2, float("nan"), wandb.Image(pixels(4)[:, :5]), None)
            row["preds"] = table
        if step in (5, 9):
            row["weights"] = wandb.Histogram(np_histogram=([1, 4, 2], [0.0, 0.5, 1.5, step]))
        run.log(row, step=step)
    run.summary["best_acc"] = 0.42
    run.summary["worst"] = float("inf")
    print("epoch done")
    run.finish()
    failed = wandb.init(project="vision", name="broken")
    failed.log({"loss": 5.0}, step=0)
    failed.finish(exit_code=3)
    """
).replace("STEPS", str(STEPS))


def pixels(seed: int) -> np.ndarray:
    """The RGB pixels the W&B script logs as image ``seed``."""
    return np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8)


CLASSES = {1: "cat", 2: "dog"}
# the box layers of image 8: the corners form in fractions of its 8x6 pixels, the centre
# form in pixels, several scores and captions; "truth" names no classes (W&B then names
# them class_<id> in the run's config)
BOXES: dict[str, Any] = {
    "pred": {
        "box_data": [
            {
                "position": {"minX": 0.25, "maxX": 0.5, "minY": 0.5, "maxY": 1.0},
                "class_id": 1,
                "box_caption": "a cat",
                "scores": {"acc": 0.9, "loss": 0.125},
            },
            {
                "position": {"middle": [4, 3], "width": 2, "height": 4},
                "domain": "pixel",
                "class_id": 2,
                "scores": {"acc": 0.5},
            },
        ],
        "class_labels": CLASSES,
    },
    "truth": {
        "box_data": [
            {"position": {"minX": 1, "maxX": 3, "minY": 1, "maxY": 2}, "domain": "pixel",
             "class_id": 1},
        ]
    },
}  # fmt: skip
CELL_BOXES = [
    {"position": {"minX": 0, "maxX": 4, "minY": 1, "maxY": 5}, "domain": "pixel",
     "class_id": 2, "box_caption": "in a cell", "scores": {"iou": 0.75}},
]  # fmt: skip
# what Assay keeps of them: corners in pixels, class ids, captions, scores, class names
IMPORTED_PRED = [
    {"box": [2.0, 3.0, 4.0, 6.0], "class_id": 1, "caption": "a cat",
     "scores": {"acc": 0.9, "loss": 0.125}},
    {"box": [3.0, 1.0, 5.0, 5.0], "class_id": 2, "scores": {"acc": 0.5}},
]  # fmt: skip
IMPORTED_TRUTH = [{"box": [1.0, 1.0, 3.0, 2.0], "class_id": 1}]


# the smallest mp4 header (an ftyp box): W&B and Assay keep a video's bytes as given
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(32))


def write_gif(path: str) -> None:
    """The animated GIF the W&B script logs as a video: three frames, by Pillow."""
    from PIL import Image as PILImage

    frames = [PILImage.fromarray(pixels(seed)) for seed in range(3)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], loop=0)


def segments() -> np.ndarray:
    """The class ids of the mask the W&B script logs with image 8."""
    return np.random.default_rng(11).integers(0, 3, (6, 8), dtype=np.uint8)


def samples() -> np.ndarray:
    """The stereo 16-bit clip the W&B script logs."""
    wave = np.sin(np.linspace(0, 40, 1600)) * 20_000
    return np.stack([wave, -wave / 2], axis=1).round().astype(np.int16)


def write_offline(root: Path) -> Path:
    """Run SCRIPT with the real W&B SDK offline in ``root``; its ``wandb`` folder."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true"}
    env["WANDB_CONFIG_DIR"] = str(root / "config")
    env["WANDB_DATA_DIR"] = str(root / "data")  # where the SDK stages the table's artifact
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, env=env, check=True, timeout=300)
    return root / "wandb"


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_offline(tmp_path_factory.mktemp("wandb-offline"))


def _run(store: Store, name: str) -> tuple[str, dict[str, np.ndarray]]:
    (run,) = [r for r in store.runs.list("vision", limit=100) if r.name == name]
    return run.id, {k: c.values for k, c in store.runs.history(run.id).items()}


def _imported(offline: Path, tmp_path: Path) -> tuple[str, str, Any]:
    """(the store's URI, the resnet run's id, what the import said) of the offline runs
    imported into a new store (closed, for ``assay.Api`` to read)."""
    from assay.importers.wandb import import_wandb

    uri = str(tmp_path / "store")
    store = open_store(uri)
    done = import_wandb(store, offline)
    run_id, _ = _run(store, "resnet")
    store.close()
    return uri, run_id, done


def test_offline_runs_import_with_every_point_and_their_settings(
    offline: Path, store_factory: StoreFactory
) -> None:
    from assay.importers.wandb import import_wandb

    store = store_factory()
    done = import_wandb(store, offline)
    assert done.runs == 2
    assert done.skipped == {"history object3D-file": 1}  # boxes, masks, html, video come in
    run_id, values = _run(store, "resnet")
    assert run_id.startswith("wb-")
    assert np.array_equal(values["train/loss"], 1.0 / np.arange(1, STEPS + 1))
    assert len(values["val/acc"]) == STEPS // 100 and np.isnan(values["odd"]).all()
    steps = store.runs.history(run_id)["val/acc"].steps
    assert steps.tolist() == list(range(0, STEPS, 100))
    run = store.runs.get(run_id)
    assert run.config == {"lr": 0.01, "layers": [64, 128]}
    assert (run.tags, run.notes, run.group, run.job_type) == (
        ["baseline"], "first try", "sweep-1", "train"
    )  # fmt: skip
    assert run.summary == {"best_acc": 0.42, "worst": None} and run.status == "finished"
    assert run.host["imported_from"].endswith(f"vision/{run_id[3:]}")
    assert "epoch done" in [line.text for line in store.runs.log_lines(run_id)]
    broken = store.runs.get(_run(store, "broken")[0])
    assert broken.status == "failed"


def test_histograms_import_as_media_at_their_steps(offline: Path, tmp_path: Path) -> None:
    import assay

    uri, run_id, done = _imported(offline, tmp_path)
    assert "history histogram" not in done.skipped
    with assay.Api(uri) as api:
        histograms = api.run(run_id).media("weights")
    assert [step for step, _ in histograms] == [5, 9]
    for step, histogram in histograms:
        assert histogram.counts.tolist() == [1, 4, 2]
        assert histogram.edges.tolist() == [0.0, 0.5, 1.5, float(step)]


def test_images_tables_and_audio_import_as_media_at_their_steps(
    offline: Path, tmp_path: Path
) -> None:
    """Pixels, cells (an image cell's pixels too) and samples as the W&B script logged
    them, read back through ``assay.Api``."""
    import assay

    uri, run_id, done = _imported(offline, tmp_path)
    # images, histograms, 4 lists (images, audio, html, video), audio, a table, html, video
    assert done.media == 2 + 2 + 4 + 1 + 1 + 1 + 1
    with assay.Api(uri) as api:
        run = api.run(run_id)
        images = run.media("sample")
        ((pair_step, pair),) = run.media("pair")
        ((voice_step, voice),) = run.media("voice")
        ((table_step, table),) = run.media("preds")
        frame = table.to_pandas()
        crops = [table.rows[0][2].to_numpy(), table.rows[1][2].to_numpy()]
        pair_pixels = [image.to_numpy() for image in pair]
        image_pixels = [image.to_numpy() for _, image in images]
        mask = images[1][1].mask("seg")
        clip = voice.to_numpy()
    assert [step for step, _ in images] == [7, 8]
    assert [image.caption for _, image in images] == ["seen at 7", "seen at 8"]
    assert images[0][1].mask_names == [] and images[1][1].mask_names == ["seg"]
    assert np.array_equal(mask, segments())
    assert images[1][1].mask_labels == {0: "sky", 1: "cat", 2: "dog"}
    for (step, _), got in zip(images, image_pixels, strict=True):
        assert np.array_equal(got, pixels(step))
    assert pair_step == 7 and np.array_equal(pair_pixels[0], pixels(1))
    assert np.array_equal(pair_pixels[1], pixels(2)[:4])
    assert voice_step == 7 and voice.sample_rate == 8000 and voice.caption == "hum"
    assert np.array_equal(clip, samples())
    assert table_step == 7 and table.columns == ["id", "score", "crop", "label"]
    assert [row[:2] + row[3:] for row in table.rows] == [[1, 0.5, "cat"], [2, None, None]]
    assert frame["id"].tolist() == [1, 2]
    assert np.array_equal(crops[0], pixels(3)) and np.array_equal(crops[1], pixels(4)[:, :5])


def test_box_layers_import_with_their_boxes_scores_and_class_names(
    offline: Path, tmp_path: Path
) -> None:
    """Every layer of every image's boxes, compared with what the W&B script logged:
    corners in pixels (fractions times the image's size), class ids, captions, every
    score; the class names logged with a layer, else those W&B made up for it; the boxes
    of a list's image and of a table's image cell (named by the table's class set)."""
    import assay

    uri, run_id, _ = _imported(offline, tmp_path)
    with assay.Api(uri) as api:
        run = api.run(run_id)
        (plain, boxed) = [image for _, image in run.media("sample")]
        ((_, pair),) = run.media("pair")
        ((_, table),) = run.media("preds")
    assert plain.box_layers == {} and plain.boxes == []
    assert sorted(boxed.box_layers) == ["pred", "truth"]
    assert boxed.box_layers["pred"].boxes == IMPORTED_PRED
    assert boxed.box_layers["pred"].class_labels == CLASSES
    assert boxed.box_layers["truth"].boxes == IMPORTED_TRUTH
    assert boxed.box_layers["truth"].class_labels == {1: "class_1"}
    assert pair[0].box_layers["truth"].boxes == IMPORTED_TRUTH and pair[1].box_layers == {}
    assert pair[0].box_layers["truth"].class_labels == {1: "class_1"}
    cell = table.rows[0][2]
    assert cell.box_layers["pred"].boxes == [
        {
            "box": [0.0, 1.0, 4.0, 5.0],
            "class_id": 2,
            "caption": "in a cell",
            "scores": {"iou": 0.75},
        }
    ]
    assert cell.box_layers["pred"].class_labels == CLASSES


def test_a_table_image_cells_masks_import_named_by_its_class_set(
    offline: Path, tmp_path: Path
) -> None:
    import assay

    uri, run_id, done = _imported(offline, tmp_path)
    assert "table image-file masks" not in done.skipped
    with assay.Api(uri) as api:
        ((_, table),) = api.run(run_id).media("preds")
        cell, plain = table.rows[0][2], table.rows[1][2]
        assert cell.mask_names == ["seg"] and np.array_equal(cell.mask("seg"), segments())
        assert cell.mask_labels == CLASSES
        assert plain.mask_names == [] and plain.mask_labels == {}


def _written(offline: Path, pattern: str) -> bytes:
    """The bytes of the one media file W&B wrote under the run's files/ (``pattern``)."""
    (found,) = {p.resolve() for p in offline.rglob(f"files/{pattern}")}
    return found.read_bytes()


def test_html_and_video_import_byte_for_byte(offline: Path, tmp_path: Path) -> None:
    """Each html and video file as W&B wrote it (an html with the stylesheet W&B injects,
    one logged with inject=False as given), its format and caption; lists of both."""
    import assay

    uri, run_id, done = _imported(offline, tmp_path)
    assert not {"history html-file", "history video-file"} & set(done.skipped)
    with assay.Api(uri) as api:
        run = api.run(run_id)
        ((page_step, page),) = run.media("page")
        ((_, pages),) = run.media("pages")
        ((spin_step, spin),) = run.media("spin")
        ((_, clips),) = run.media("clips")
        page_bytes, spin_bytes = page.data, spin.data
        texts = [p.html for p in pages]
        clip_data = [(c.data, c.format, c.caption) for c in clips]
        kinds = {k.key: k.kind for k in run.media_keys()}
    assert page_step == spin_step == 7
    assert page_bytes == _written(offline, "media/html/page_*.html")
    assert "<b>not an image</b>" in page_bytes.decode() and "normalize.css" in page_bytes.decode()
    assert texts == ["<p>one</p>", "<p>two \u00e9</p>"]
    gif = (offline.parent / "spin.gif").read_bytes()
    assert spin_bytes == gif and (spin.format, spin.caption) == ("gif", "spinning")
    assert clip_data == [(gif, "gif", None), (MP4, "mp4", "ftyp")]
    assert [kinds[k] for k in ("page", "pages", "spin", "clips")] == ["html"] * 2 + ["video"] * 2


def test_a_list_of_audio_imports_as_a_list_of_clips(offline: Path, tmp_path: Path) -> None:
    import assay

    uri, run_id, _ = _imported(offline, tmp_path)
    with assay.Api(uri) as api:
        ((step, voices),) = api.run(run_id).media("voices")
        clips = [voice.to_numpy() for voice in voices]
    assert step == 7
    assert [(v.caption, v.sample_rate) for v in voices] == [("left", 8000), ("right", 16000)]
    assert np.array_equal(clips[0], samples()) and np.array_equal(clips[1], samples()[:, 1])


def test_a_media_file_that_is_gone_fails_its_run_by_name(offline: Path, tmp_path: Path) -> None:
    """A run folder copied without one of its images: that run is named and not
    imported (never without a value it logged), the other comes in, exit 1."""
    copy = tmp_path / "copy"
    shutil.copytree(offline, copy, symlinks=True)
    (gone,) = [p for p in copy.rglob("media/images/sample_*.png") if "latest-run" not in str(p)][:1]
    gone.unlink()
    result = CliRunner().invoke(cli, ["import", "wandb", str(copy), "--uri", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert f"image-file 'sample' at step 7: W&B file media/images/{gone.name} is not at" in (
        " ".join(result.output.split())
    )
    assert "not imported: 1 history object3D-file values" in result.output  # listed still
    store = open_store(tmp_path / "s")
    assert [r.name for r in store.runs.list("vision")] == ["broken"]
    store.close()


def test_importing_again_changes_nothing(offline: Path, tmp_path: Path) -> None:
    from assay.importers.wandb import import_wandb

    store = open_store(tmp_path / "store")
    import_wandb(store, offline)
    run_id = _run(store, "resnet")[0]
    lines = len(store.runs.log_lines(run_id))
    keys = store.media.keys(run_id)
    import_wandb(store, offline, project="vision")
    assert len(store.runs.list("vision")) == 2
    assert len(store.runs.log_lines(run_id)) == lines
    assert store.media.keys(run_id) == keys
    assert [(k.key, k.count) for k in keys] == [
        ("clips", 1), ("page", 1), ("pages", 1), ("pair", 1), ("preds", 1), ("sample", 2),
        ("spin", 1), ("voice", 1), ("voices", 1), ("weights", 2),
    ]  # fmt: skip
    store.close()


def test_a_damaged_run_file_is_named_and_the_others_come_in(offline: Path, tmp_path: Path) -> None:
    from assay.importers.wandb import import_wandb
    from assay.importers.wandb_log import PIECE, _payloads

    copy = tmp_path / "copy"
    files = sorted(offline.rglob("run-*.wandb"))
    for i, file in enumerate(files):
        shutil.copytree(file.parent, copy / f"r{i}")
    damaged = copy / "r0" / files[0].name
    data = bytearray(damaged.read_bytes())
    starts = [pos for pos, _ in _payloads(bytes(data), damaged.name)]
    middle = starts[len(starts) // 2]  # a byte of a record's data, not of its framing
    data[middle + PIECE.size + 1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    store = open_store(tmp_path / "store")
    with pytest.raises(ImportIncomplete, match=rf"r0/{files[0].name}: .*damaged record"):
        import_wandb(store, copy)
    assert len(store.runs.list("vision")) == 1  # the other run, whole; none of the damaged
    store.close()


def test_the_cli_imports_and_names_what_it_did_not(offline: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["import", "wandb", str(offline), "--uri", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs" in result.output and "12 media values" in result.output
    assert "not imported: 1 history object3D-file values" in result.output


ARTIFACTS = textwrap.dedent(
    """
    import os, time, wandb
    os.makedirs("data/nested", exist_ok=True)
    sampled = wandb.Settings(x_stats_sampling_interval=0.5)
    run = wandb.init(project="vision", name="arty", settings=sampled)
    for version, text in enumerate(("hello\\n", "hello again\\n")):
        open("data/a.txt", "w").write(text)
        open("data/nested/b.bin", "wb").write(bytes(range(256)) * 40)
        art = wandb.Artifact("digits", type="dataset", description="the digits",
                             metadata={"rows": 3 + version, "source": "scan"})
        art.add_dir("data")
        if version == 1:
            art.add_reference("https://example.com/x.csv", checksum=False)
        run.log_artifact(art, aliases=["best"] if version == 1 else [])
        for step in range(4):
            run.log({"loss": 1 / (step + 1)}, step=version * 4 + step)
            time.sleep(0.5)
    run.finish()
    """
)


@pytest.fixture(scope="module")
def with_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that logged two versions of an artifact (one file changed, a reference
    added) and sampled system metrics twice a second, by the real W&B SDK offline."""
    root = tmp_path_factory.mktemp("wandb-artifacts")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true"}
    env |= {"WANDB_CONFIG_DIR": str(root / "config"), "HOME": str(root / "home")}
    env["WANDB_CACHE_DIR"] = str(root / "cache")
    subprocess.run([sys.executable, "-c", ARTIFACTS], cwd=root, env=env, check=True)
    return root


def test_logged_artifacts_import_as_versions_produced_by_the_run(
    with_artifacts: Path, store_factory: StoreFactory
) -> None:
    from assay.importers.wandb import import_wandb

    store = store_factory()
    done = import_wandb(store, with_artifacts / "wandb")
    assert (done.runs, done.artifact_versions, done.files) == (1, 2, 2 + 3)
    (run,) = store.runs.list("vision")
    first, second = sorted(store.artifacts.versions("vision", "digits"), key=lambda v: v.version)
    assert (first.type, first.run_id, first.description) == ("dataset", run.id, "the digits")
    assert (first.metadata, second.metadata) == (
        {"rows": 3, "source": "scan"},
        {"rows": 4, "source": "scan"},
    )
    aliases = store.artifacts.list("vision")[0].aliases
    assert aliases == {"best": second.version, "latest": second.version}
    files = {f.path: f for f in store.artifacts.manifest(second.id).files}
    assert sorted(files) == ["a.txt", "nested/b.bin", "x.csv"]
    assert files["x.csv"].ref == "https://example.com/x.csv"
    assert store.blobs.get(files["a.txt"].digest) == b"hello again\n"
    assert store.blobs.get(files["nested/b.bin"].digest) == bytes(range(256)) * 40
    assert files["a.txt"].digest != store.artifacts.manifest(first.id).files[0].digest
    again = import_wandb(store, with_artifacts / "wandb")
    assert again.artifact_versions == 2 and len(store.artifacts.versions("vision", "digits")) == 2


def test_system_metrics_import_sample_by_sample(with_artifacts: Path, tmp_path: Path) -> None:
    """Every numeric item of every W&B ``stats`` record is a point of ``system/<name>``,
    at the record's time, in order."""
    from assay.importers.wandb import import_wandb
    from assay.importers.wandb_log import records

    (file,) = (with_artifacts / "wandb").rglob("run-*.wandb")
    expected: dict[str, list[tuple[float, float]]] = {}
    for record in records(file):
        if record.WhichOneof("record_type") == "stats":
            at = record.stats.timestamp.seconds + record.stats.timestamp.nanos / 1e9
            for item in record.stats.item:
                value = json.loads(item.value_json)
                if isinstance(value, int | float):
                    expected.setdefault(f"system/{item.key}", []).append((at, float(value)))
    assert len(expected["system/memory_percent"]) >= 4  # sampled while the run ran
    store = open_store(tmp_path / "store")
    import_wandb(store, file)
    (run,) = store.runs.list("vision")
    history = store.runs.history(run.id)
    assert {k for k in history if k.startswith("system/")} == set(expected)
    for key, samples in expected.items():
        got = history[key]
        assert list(zip(got.times.tolist(), got.values.tolist(), strict=True)) == samples, key
        assert got.steps.tolist() == list(range(len(samples)))
    store.close()


def test_an_artifact_whose_files_are_gone_is_named_not_stored_in_part(
    with_artifacts: Path, tmp_path: Path
) -> None:
    """After ``wandb sync`` the SDK's staged copies are gone: the version is refused by
    name, the run itself comes in, and the import exits 1."""
    (file,) = (with_artifacts / "wandb").rglob("run-*.wandb")
    copy = tmp_path / "run" / file.name
    copy.parent.mkdir()
    copy.write_bytes(file.read_bytes())
    staged = [r.artifact for r in _artifact_records(copy)]
    moved = Path(staged[0].manifest.contents[0].local_path)
    hidden = tmp_path / "hidden"
    moved.rename(hidden)
    try:
        result = CliRunner().invoke(
            cli, ["import", "wandb", str(copy), "--uri", str(tmp_path / "s")]
        )
    finally:
        hidden.rename(moved)
    assert result.exit_code == 1
    assert "artifact digits: file a.txt is neither at" in result.output
    store = open_store(tmp_path / "s")
    assert len(store.runs.list("vision")) == 1 and not store.artifacts.list("vision")
    store.close()


def _artifact_records(file: Path) -> list[Any]:
    from assay.importers.wandb_log import records

    return [r for r in records(file) if r.WhichOneof("record_type") == "artifact"]
