"""`assay import wandb --from-api`: the real ``wandb.Api`` client against a W&B server on
loopback (tests/wandb_server.py); every history point compared with what the server
holds, idempotent, resumable, unreadable runs named, never half a run; a refused key, a
missing project or run, no key and an unreachable server fail by name."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.errors import ImportIncomplete, InvalidInput, NotFound, Unauthorized
from assay.media import pixels
from assay.store import open_store
from tests.wandb_server import FakeArtifact, FakeRun, FakeWandb, serving

pytest.importorskip("wandb", reason="the wandb package is not installed")
pytest.importorskip("pyarrow", reason="the tables extra is not installed")

START = datetime(2024, 3, 1, 10, 0, tzinfo=UTC).timestamp()
ROWS = 2_500  # more than a page of scan_history (1,000 rows)
EVENTS = 20  # system-metric samples of the first run
SYSTEM = 2 * EVENTS + EVENTS // 5  # its points: cpu and memory each time, a GPU every 5th


def _rows(count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for step in range(count):
        row: dict[str, object] = {
            "_step": step,
            "_timestamp": START + 1 + step * 0.25,
            "_runtime": 1 + step * 0.25,
            "train/loss": 1.0 / (step + 1),
        }
        if step % 10 == 0:
            row["val/acc"] = step / (2 * count)
        rows.append(row)
    return rows


ARTIFACTS = [
    FakeArtifact(
        name="digits",
        type="dataset",
        version=0,
        files={"train.csv": b"a,b\n1,2\n", "images/0.png": bytes(range(256)) * 8},
        description="the digits",
        metadata={"rows": 1},
    ),
    FakeArtifact(
        name="digits",
        type="dataset",
        version=1,
        files={"train.csv": b"a,b\n1,2\n3,4\n", "images/0.png": bytes(range(256)) * 8},
        refs={"raw.csv": "s3://bucket/raw.csv"},
        description="the digits, more rows",
        metadata={"rows": 2},
        aliases=["best"],
    ),
]


def _events(count: int) -> list[dict[str, object]]:
    """System metrics as W&B's server answers a run's events: ``system.<name>`` keys."""
    return [
        {
            "_wandb": True,
            "_timestamp": START + 2 * k + 0.5,
            "_runtime": 2.0 * k,
            "system.cpu": 10.0 + k,
            "system.memory_percent": 50 - k / 2,
            **({"system.gpu.0.gpu": 99.0} if k % 5 == 0 else {}),
        }
        for k in range(count)
    ]


def _fake() -> FakeWandb:
    base = FakeRun(
        id="a1b2c3",
        display_name="resnet-base",
        config={"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}},
        summary={"train/loss": 1.0 / ROWS, "best_acc": 0.93, "_runtime": 700.0, "_step": ROWS - 1},
        tags=["baseline", "v2"],
        notes="the first try",
        group="resnets",
        job_type="train",
        rows=_rows(ROWS),
        events=_events(EVENTS),
        artifacts=ARTIFACTS,
        files={"output.log": b"epoch 1\nepoch 2\n", "wandb-metadata.json": b'{"host": "gpu1"}'},
    )
    crashed = FakeRun(id="d4e5f6", display_name="oom", state="crashed", rows=_rows(3))
    running = FakeRun(id="g7h8i9", display_name="live", state="running", rows=_rows(2))
    return FakeWandb(
        entity="ada",
        projects={
            "vision": [base, crashed, running],
            "broken": [
                FakeRun(id="ok1", display_name="fine", rows=_rows(4)),
                FakeRun(id="bad1", display_name="lost", rows=_rows(4), broken_history=True),
                FakeRun(id="short1", display_name="short", rows=_rows(4), history_line_count=5),
            ],
        },
    )


def _wandb_env(env: pytest.MonkeyPatch, home: Path, url: str) -> None:
    """W&B's client pointed at ``url``, keeping its files under ``home``, retrying a file
    the server fails to serve once (a user bounds it the same way)."""
    env.setenv("WANDB_BASE_URL", url)
    env.setenv("WANDB_API_KEY", "a" * 40)
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        env.setenv(name, str(home / name.lower()))
    env.setenv("HOME", str(home))  # no ~/.netrc of the machine's own W&B login
    env.setenv("WANDB_SILENT", "true")
    env.setenv("WANDB__FILE_TRANSFER_RETRY_MAX", "1")
    env.setenv("WANDB__FILE_TRANSFER_RETRY_WAIT_MIN_SECONDS", "0.1")
    env.setenv("WANDB__FILE_TRANSFER_RETRY_WAIT_MAX_SECONDS", "0.1")


@pytest.fixture(scope="module")
def wandb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeWandb]:
    """One fake for the module; W&B's settings are read once per process, so they are
    dropped before (and after) to be read from this fake's environment."""
    import wandb

    home = tmp_path_factory.mktemp("wandb")
    with serving(_fake()) as fake, pytest.MonkeyPatch.context() as env:
        _wandb_env(env, home, fake.url)
        wandb.teardown()
        yield fake
        wandb.teardown()
    assert not fake.unknown, f"wandb.Api sent queries the fake does not answer: {fake.unknown}"


def test_runs_from_a_wandb_server_import_with_every_history_point(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    done = import_wandb_api(store, "ada/vision")
    assert (done.runs, done.points) == (2, ROWS + ROWS // 10 + 3 + 1 + SYSTEM)
    assert done.skipped == {"runs still running (import them once they end)": 1}
    assert "RunParquetHistory" in wandb_server.operations
    (base,) = [r for r in store.runs.list("vision") if r.name == "resnet-base"]
    assert base.id == "wb-a1b2c3" and base.status == "finished"
    assert base.config == {"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}}
    assert base.summary == {"best_acc": 0.93}  # the last loss is the series' last point
    assert (base.tags, base.notes, base.group, base.job_type) == (
        ["baseline", "v2"],
        "the first try",
        "resnets",
        "train",
    )
    assert base.created_at == START and base.finished_at == START + 700.0
    rows = wandb_server.projects["vision"][0].rows
    history = store.runs.history(base.id)
    for key in ("train/loss", "val/acc"):
        logged = [r for r in rows if key in r]
        assert history[key].steps.tolist() == [r["_step"] for r in logged]
        assert history[key].times.tolist() == [r["_timestamp"] for r in logged]
        assert history[key].values.tolist() == [r[key] for r in logged]
    events = wandb_server.projects["vision"][0].events
    for name in ("cpu", "memory_percent", "gpu.0.gpu"):  # every sample, at its time
        sampled = [(e["_timestamp"], e[f"system.{name}"]) for e in events if f"system.{name}" in e]
        got = history[f"system/{name}"]
        assert list(zip(got.times.tolist(), got.values.tolist(), strict=True)) == sampled
        assert got.steps.tolist() == list(range(len(sampled)))
    (crashed,) = [r for r in store.runs.list("vision") if r.name == "oom"]
    assert not [k for k in store.runs.history(crashed.id) if k.startswith("system/")]
    assert crashed.status == "crashed" and len(store.runs.history(crashed.id)["train/loss"]) == 3
    assert (done.files, done.artifact_versions) == (2 + 2 + 3, 2)
    (version,) = store.artifacts.versions("vision", "wandb-a1b2c3")
    assert version.file_count == 2
    store.close()


def test_importing_again_changes_nothing(wandb_server: FakeWandb, tmp_path: Path) -> None:
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    import_wandb_api(store, "ada/vision/a1b2c3", project="moved")
    first = store.runs.history("wb-a1b2c3")
    again = import_wandb_api(store, "ada/vision/a1b2c3", project="moved")
    assert (again.runs, again.points) == (1, ROWS + ROWS // 10 + SYSTEM)
    assert [r.id for r in store.runs.list("moved")] == ["wb-a1b2c3"]
    after = store.runs.history("wb-a1b2c3")
    assert all(np.array_equal(first[k].values, after[k].values) for k in first)
    assert len(store.artifacts.versions("moved", "wandb-a1b2c3")) == 1
    store.close()


def test_an_unreadable_run_is_named_and_the_others_come_in(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    with pytest.raises(ImportIncomplete) as caught:
        import_wandb_api(store, "ada/broken")
    message = str(caught.value)
    assert "run bad1: W&B run bad1 could not be read" in message
    assert "run short1: W&B counts 5 history rows; 4 were read" in message
    assert [r.name for r in store.runs.list("broken")] == ["fine"]  # never half a run
    store.close()


def test_a_run_the_server_serves_again_comes_in_on_the_next_import(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    from assay.importers.wandb_api import import_wandb_api

    (lost,) = [r for r in wandb_server.projects["broken"] if r.id == "bad1"]
    store = open_store(tmp_path / "store")
    with pytest.raises(ImportIncomplete, match="run bad1"):
        import_wandb_api(store, "ada/broken/bad1")
    lost.broken_history = False  # the server has recovered
    try:
        done = import_wandb_api(store, "ada/broken/bad1")
    finally:
        lost.broken_history = True
    assert (done.runs, done.points) == (1, 4 + 1)
    assert store.runs.history("wb-bad1")["train/loss"].values.tolist() == [
        r["train/loss"] for r in lost.rows
    ]
    store.close()


def test_a_project_without_its_entity_is_read_from_the_keys_default_entity(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    done = import_wandb_api(store, "vision", project="mine")
    assert (done.runs, done.points) == (2, ROWS + ROWS // 10 + 3 + 1 + SYSTEM)
    assert sorted(r.id for r in store.runs.list("mine")) == ["wb-a1b2c3", "wb-d4e5f6"]
    store.close()


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("ada/nowhere", NotFound, "W&B has no project ada/nowhere"),
        ("ada/vision/nothere", NotFound, "W&B has no run ada/vision/nothere"),
        ("bob/vision", NotFound, "W&B has no project bob/vision"),
        ("ada/vision/a1/b2", InvalidInput, "is not \\[ENTITY/\\]PROJECT"),
    ],
)
def test_a_source_the_server_does_not_have_fails_by_name(
    wandb_server: FakeWandb, tmp_path: Path, path: str, error: type[Exception], message: str
) -> None:
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    with pytest.raises(error, match=message):
        import_wandb_api(store, path)
    assert store.runs.list("nowhere") == [] and store.runs.list("vision") == []
    store.close()


def test_a_key_the_server_refuses_fails_before_anything_is_read(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    wandb_server.api_key = "b" * 40  # the key in the environment is no longer valid
    try:
        with pytest.raises(Unauthorized, match="refuses the API key"):
            import_wandb_api(store, "ada/vision")
        result = CliRunner().invoke(
            cli, ["import", "wandb", "--from-api", "ada/vision", "--uri", str(tmp_path / "s")]
        )
    finally:
        wandb_server.api_key = "a" * 40
    assert result.exit_code == 1 and "refuses the API key" in result.output
    assert store.runs.list("vision") == []
    store.close()


def test_the_cli_imports_from_the_api_and_names_what_it_did_not(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    uri = str(tmp_path / "s")
    result = CliRunner().invoke(cli, ["import", "wandb", "--from-api", "ada/vision", "--uri", uri])
    assert result.exit_code == 0, result.output
    assert (
        f"2 runs, {ROWS + ROWS // 10 + 4 + SYSTEM} points, 2 artifact versions, 7 files, checked"
        in result.output
    )
    assert "not imported: 1 runs still running" in result.output
    both = CliRunner().invoke(cli, ["import", "wandb", str(tmp_path), "--from-api", "a/b"])
    assert both.exit_code != 0 and "either PATH" in both.output


@pytest.mark.parametrize("case", ["unreachable", "no-key"])
def test_the_cli_names_an_unreachable_server_or_a_missing_key(tmp_path: Path, case: str) -> None:
    """In a process of its own (W&B's settings are per process), with nothing to type in."""
    with serving(_fake()) as fake, pytest.MonkeyPatch.context() as env:
        url = "http://127.0.0.1:9" if case == "unreachable" else fake.url  # 9: nobody listens
        _wandb_env(env, tmp_path, url)
        if case == "no-key":
            env.delenv("WANDB_API_KEY")
        args = ["-m", "assay", "import", "wandb", "--from-api", "ada/vision"]
        result = subprocess.run(
            [sys.executable, *args, "--uri", str(tmp_path / "s")],
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, said
    if case == "unreachable":
        assert "the W&B server at http://127.0.0.1:9 cannot be reached" in said
    else:
        assert f"no W&B API key for {url}: set WANDB_API_KEY or run `wandb login`" in said


def test_logged_artifacts_come_in_as_versions_with_their_files(
    wandb_server: FakeWandb, tmp_path: Path
) -> None:
    """``run.logged_artifacts()``: each version is downloaded by W&B's client, checked
    against W&B's MD5s and stored as a version produced by the run; a reference stays a
    reference; a second import adds nothing."""
    from assay.importers.wandb_api import import_wandb_api

    store = open_store(tmp_path / "store")
    import_wandb_api(store, "ada/vision/a1b2c3")
    first, second = sorted(store.artifacts.versions("vision", "digits"), key=lambda v: v.version)
    assert (first.type, first.run_id, first.description) == ("dataset", "wb-a1b2c3", "the digits")
    assert (first.metadata, second.metadata) == ({"rows": 1}, {"rows": 2})
    assert store.artifacts.list("vision", type="dataset")[0].aliases == {
        "best": second.version,
        "latest": second.version,
    }
    for version, fake in ((first, ARTIFACTS[0]), (second, ARTIFACTS[1])):
        files = {f.path: f for f in store.artifacts.manifest(version.id).files}
        assert sorted(files) == sorted([*fake.files, *fake.refs])
        for path, data in fake.files.items():
            assert store.blobs.get(files[path].digest) == data
        for path, uri in fake.refs.items():
            assert files[path].ref == uri
    again = import_wandb_api(store, "ada/vision/a1b2c3")
    assert again.artifact_versions == 2 and len(store.artifacts.versions("vision", "digits")) == 2
    store.close()


def test_an_artifact_file_that_arrives_changed_is_named(
    wandb_server: FakeWandb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage serving other bytes than W&B's manifest recorded: the version is named and
    not stored; the run itself comes in."""
    from assay.importers.wandb_api import import_wandb_api

    monkeypatch.setattr(ARTIFACTS[0], "served", {"train.csv": b"a,b\n9,9\n"})
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))  # not what W&B has cached
    store = open_store(tmp_path / "store")
    with pytest.raises(ImportIncomplete, match=r"file train\.csv did not arrive as W&B recorded"):
        import_wandb_api(store, "ada/vision/a1b2c3")
    assert [r.id for r in store.runs.list("vision")] == ["wb-a1b2c3"]
    assert not store.artifacts.list("vision", type="dataset")
    store.close()


def _png(seed: int, shape: tuple[int, ...] = (6, 8, 3)) -> tuple[np.ndarray, bytes]:
    array = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return array, pixels.to_png(array)


def _wav(samples: np.ndarray, rate: int) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def _file(kind: str, path: str, data: bytes, **extra: object) -> dict[str, object]:
    """A media value as W&B's server holds it in a history row."""
    sha = hashlib.sha256(data).hexdigest()
    return {"_type": kind, "path": path, "sha256": sha, "size": len(data), **extra}


BOXES_PATH = "media/metadata/boxes2D/s1_9f.boxes2D.json"
BOX_DATA = [  # as W&B writes a boxes2D file: fractions of the 5x4 image, and pixels
    {
        "position": {"minX": 0.2, "maxX": 0.6, "minY": 0.25, "maxY": 0.75},
        "class_id": 1,
        "box_caption": "one",
        "scores": {"acc": 0.75, "loss": 0.5},
    },
    {"position": {"middle": [2, 2], "width": 2, "height": 2}, "domain": "pixel", "class_id": 1},
]


MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(16)  # an mp4's ftyp box
PAGE = b"<p>caf\xc3\xa9</p>"


def _media_run() -> tuple[FakeRun, dict[str, object]]:
    """A finished run that logged images, audio, a table with image cells (its images and
    their masks in the run-table artifact, as W&B keeps them), a histogram, html, video
    and a 3D object."""
    first, first_png = _png(1)
    second, second_png = _png(2, (4, 5))
    crop, crop_png = _png(3, (3, 3, 3))
    seg = np.random.default_rng(4).integers(0, 2, (4, 5), dtype=np.uint8)
    seg_png = pixels.to_png(seg)
    mask = {"seg": _file("mask", "media/images/mask/s1.mask.png", seg_png)}
    labels = {"type": "mask/class_labels", "value": {"0": "background", "1": "digit"}}
    clip = (np.sin(np.linspace(0, 30, 900)) * 20_000).round().astype(np.int16)
    clip_wav = _wav(clip, 16_000)
    low_wav = _wav(clip[::2], 8_000)
    boxes_json = json.dumps({"box_data": BOX_DATA}).encode()  # no class_labels: the config's
    box_labels = {"type": "bounding_box/class_labels", "value": {"1": "digit"}}
    voices = {
        "_type": "audio",
        "count": 2,
        "audio": [
            _file("audio-file", "media/audio/v1.wav", clip_wav, caption="high"),
            _file("audio-file", "media/audio/v2.wav", low_wav, caption="low"),
        ],
        "sampleRates": [16_000, 8_000],
        "captions": ["high", "low"],
    }
    cell_seg = np.eye(3, dtype=np.uint8) * 2
    cell_seg_png = pixels.to_png(cell_seg)
    class_set = json.dumps({"class_set": [{"id": 2, "name": "two"}]}).encode()
    cells = {
        "_type": "image-file",
        "path": "media/images/c0.png",
        "format": "png",
        "masks": {"seg": _file("mask", "media/images/mask/c0.mask.png", cell_seg_png)},
        "classes": {"type": "classes-file", "path": "media/classes/c_cls.classes.json"},
    }
    stored = {
        "columns": ["id", "score", "crop"],
        "data": [[1, float("inf"), cells], [2, 0.5, None]],
    }
    stored_json = json.dumps(stored).encode()
    table = FakeArtifact(
        name="run-m1-preds",
        type="run_table",
        version=0,
        files={
            "preds.table.json": stored_json,
            "media/images/c0.png": crop_png,
            "media/images/mask/c0.mask.png": cell_seg_png,
            "media/classes/c_cls.classes.json": class_set,
        },
    )
    copy = b'{"columns": ["id", "score", "crop"], "data": [[1, NaN, "Image"], [2, 0.5, null]]}'
    table_value = _file("table-file", "media/table/preds_1_ab.table.json", copy, nrows=2)
    table_value["artifact_path"] = f"wandb-artifact://_id/{table.id}/preds.table.json"
    rows: list[dict[str, object]] = [
        {
            "_step": 0,
            "_timestamp": START + 1,
            "loss": 1.0,
            "sample": _file("image-file", "media/images/s0.png", first_png, caption="first"),
            "voice": _file("audio-file", "media/audio/v0.wav", clip_wav, caption="hum"),
            "voices": voices,
            "page": _file("html-file", "media/html/p0.html", PAGE),
            "movie": _file("video-file", "media/videos/m0.mp4", MP4, caption="ftyp"),
            "cloud": {"_type": "object3D-file", "path": "media/object3D/c.pts.json"},
        },
        {
            "_step": 1,
            "_timestamp": START + 2,
            "loss": 0.5,
            "sample": _file(
                "image-file",
                "media/images/s1.png",
                second_png,
                masks=mask,
                boxes={"pred": _file("boxes2D", BOXES_PATH, boxes_json)},
            ),
            "preds": table_value,
            "weights": {"_type": "histogram", "values": [1, 4, 2], "bins": [0.0, 0.5, 1.5, 3.0]},
        },
    ]
    files = {
        "media/images/s0.png": first_png,
        "media/images/s1.png": second_png,
        "media/images/mask/s1.mask.png": seg_png,
        "media/audio/v0.wav": clip_wav,
        "media/audio/v1.wav": clip_wav,
        "media/audio/v2.wav": low_wav,
        BOXES_PATH: boxes_json,
        "media/table/preds_1_ab.table.json": copy,
        "media/html/p0.html": PAGE,
        "media/videos/m0.mp4": MP4,
    }
    run = FakeRun(
        id="m1",
        display_name="media",
        rows=rows,
        files=files,
        artifacts=[table],
        config={
            "lr": float("nan"),
            "_wandb": {
                "mask/class_labels": {"sample_wandb_delimeter_seg": labels},
                "bounding_box/class_labels": {"sample_wandb_delimeter_pred": box_labels},
            },
        },
        summary={"worst": float("-inf")},
    )
    logged = {"first": first, "second": second, "crop": crop, "clip": clip, "seg": seg}
    return run, logged | {"cell_seg": cell_seg}


def test_media_from_a_server_import_with_their_pixels_cells_and_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Images, audio, a table whose image cells (with their masks) are in its run-table
    artifact, a histogram, html and video, from the run's files as W&B's client
    downloads them; a 3D object listed; NaN and infinities in config, summary and cells
    as None."""
    import wandb

    import assay
    from assay.importers.wandb_api import import_wandb_api

    run, logged = _media_run()
    with serving(FakeWandb(entity="ada", projects={"media": [run]})) as fake:
        _wandb_env(monkeypatch, tmp_path / "home", fake.url)
        wandb.teardown()
        try:
            uri = str(tmp_path / "store")
            store = open_store(uri)
            done = import_wandb_api(store, "ada/media")
            again = import_wandb_api(store, "ada/media")
            keys = [(k.key, k.count) for k in store.media.keys("wb-m1")]
            imported = store.runs.get("wb-m1")
            store.close()
        finally:
            wandb.teardown()
    assert not fake.unknown
    assert (done.runs, done.media, again.media) == (1, 8, 8)
    assert done.skipped == {"history object3D-file": 1}
    assert keys == [
        ("movie", 1), ("page", 1), ("preds", 1), ("sample", 2), ("voice", 1), ("voices", 1),
        ("weights", 1),
    ]  # fmt: skip
    assert (imported.config, imported.summary) == ({"lr": None}, {"worst": None})
    with assay.Api(uri) as api:
        media = api.run("wb-m1").media
        (first, second) = media("sample")
        ((_, voice),) = media("voice")
        ((voices_step, voices),) = media("voices")
        ((table_step, table),) = media("preds")
        ((_, histogram),) = media("weights")
        assert (first[0], second[0], first[1].caption) == (0, 1, "first")
        assert np.array_equal(first[1].to_numpy(), logged["first"])
        assert np.array_equal(second[1].to_numpy(), logged["second"])
        assert np.array_equal(second[1].mask("seg"), logged["seg"])
        assert second[1].mask_labels == {0: "background", 1: "digit"}
        assert (voice.sample_rate, voice.caption) == (16_000, "hum")
        assert voices_step == 0
        assert [(v.caption, v.sample_rate) for v in voices] == [("high", 16_000), ("low", 8_000)]
        assert np.array_equal(voices[1].to_numpy(), logged["clip"][::2])
        assert first[1].box_layers == {} and sorted(second[1].box_layers) == ["pred"]
        assert second[1].box_layers["pred"].boxes == [
            {"box": [1.0, 1.0, 3.0, 3.0], "class_id": 1, "caption": "one",
             "scores": {"acc": 0.75, "loss": 0.5}},
            {"box": [1.0, 1.0, 3.0, 3.0], "class_id": 1},
        ]  # fmt: skip
        assert second[1].box_layers["pred"].class_labels == {1: "digit"}
        assert np.array_equal(voice.to_numpy(), logged["clip"])
        assert table_step == 1 and table.columns == ["id", "score", "crop"]
        assert [r[:2] for r in table.rows] == [[1, None], [2, 0.5]] and table.rows[1][2] is None
        assert np.array_equal(table.rows[0][2].to_numpy(), logged["crop"])
        assert np.array_equal(table.rows[0][2].mask("seg"), logged["cell_seg"])
        assert table.rows[0][2].mask_labels == {2: "two"}
        ((_, page),) = media("page")
        ((_, movie),) = media("movie")
        assert page.data == PAGE and page.html == "<p>caf\u00e9</p>"
        assert (movie.data, movie.format, movie.caption) == (MP4, "mp4", "ftyp")
        assert table.to_pandas()["id"].tolist() == [1, 2]
        assert histogram.counts.tolist() == [1, 4, 2]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("changed", r"run m1: image-file 'sample' at step 1: W&B file media/images/s1\.png at "),
        ("no-artifact", r"run m1: table-file 'preds' at step 1: .* not among the artifacts"),
    ],
)
def test_a_media_file_changed_or_a_table_without_its_artifact_fails_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, message: str
) -> None:
    """Never a run without a value it logged, nor a table whose image cells would be the
    text "Image" (W&B's own copy of a table holds that in their place)."""
    import wandb

    from assay.importers.wandb_api import import_wandb_api

    run, _ = _media_run()
    if case == "changed":
        run.files["media/images/s1.png"] = _png(9)[1]  # not the bytes W&B recorded
    else:
        run.artifacts = []
    with serving(FakeWandb(entity="ada", projects={"media": [run]})) as fake:
        _wandb_env(monkeypatch, tmp_path / "home", fake.url)
        wandb.teardown()
        try:
            store = open_store(tmp_path / "store")
            with pytest.raises(ImportIncomplete, match=message):
                import_wandb_api(store, "ada/media")
            assert store.runs.list("media") == []
            store.close()
        finally:
            wandb.teardown()
