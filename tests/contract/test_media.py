"""The contract of ``store.media`` (and of Media operations in batches): every backend
(SQLite, PostgreSQL, RemoteStore over ASGI) must pass all of these."""

from __future__ import annotations

import time

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput, NotFound
from assay.media import codec
from assay.records import Batch, BlobData, Media
from assay.sdk.api import Api
from assay.sdk.media import send_batch
from assay.store import Store
from tests.conftest import create_run


def media_batch(run_id: str, seq: int, values: dict[str, object], step: int) -> Batch:
    ops: list = []
    blobs: dict[str, bytes] = {}
    for key, value in values.items():
        logged = codec.check(key, value)
        assert logged is not None
        op, data = codec.encode(key, step, time.time(), logged)
        ops.append(op)
        blobs.update(data)
    if blobs:
        ops.append(BlobData(blobs=blobs))
    return Batch(run_id=run_id, writer="m", seq=seq, ops=ops)


def gradient(shade: int) -> np.ndarray:
    image = np.zeros((16, 24, 3), dtype=np.uint8)
    image[..., 0] = shade
    image[:, :, 1] = np.arange(24, dtype=np.uint8)[None, :] * 10
    return image


def test_images_tables_and_histograms_read_back_by_step(store: Store) -> None:
    run_id = create_run(store)
    for step in range(3):
        values = {
            "sample": assay.Image(gradient(step * 50), caption=f"step {step}"),
            "weights": assay.Histogram(np.arange(100.0) + step, bins=10),
        }
        assert send_batch(store, media_batch(run_id, step + 1, values, step))
    table = assay.Table(
        [[1, "cat", 0.5, assay.Image(gradient(9))], [2, "dog", float("nan"), None]],
        columns=["id", "label", "score", "image"],
    )
    assert send_batch(store, media_batch(run_id, 10, {"preds": table}, 7))

    run = Api(store=store).run(run_id)
    images = run.media("sample")
    assert [s for s, _ in images] == [0, 1, 2]
    assert images[2][1].caption == "step 2"
    np.testing.assert_array_equal(images[2][1].to_numpy(), gradient(100))
    hist = run.media("weights")[1][1]
    assert hist.counts.sum() == 100 and hist.edges[0] == 1.0 and len(hist.edges) == 11
    frame = run.media("preds")[0][1].to_pandas()
    assert list(frame.columns) == ["id", "label", "score", "image"]
    assert frame["label"].tolist() == ["cat", "dog"] and np.isnan(frame["score"][1])
    np.testing.assert_array_equal(frame["image"][0].to_numpy(), gradient(9))
    keys = {k.key: k for k in store.media.keys(run_id)}
    assert (keys["sample"].kind, keys["sample"].count, keys["sample"].last_step) == (
        "image",
        3,
        2,
    )
    assert keys["preds"].kind == "table" and keys["weights"].kind == "histogram"


def test_a_step_range_and_a_limit_select_values(store: Store) -> None:
    run_id = create_run(store)
    for step in range(5):
        send_batch(store, media_batch(run_id, step + 1, {"t": assay.Text(f"s{step}")}, step))
    got = store.media.list(run_id, "t", start=1, end=3)
    assert [r.step for r in got] == [1, 2, 3]
    assert [r.body["text"] for r in store.media.list(run_id, "t", limit=2)] == ["s0", "s1"]


def test_a_replayed_batch_is_applied_once_and_a_rewrite_of_a_step_wins(store: Store) -> None:
    run_id = create_run(store)
    first = media_batch(run_id, 1, {"t": assay.Text("old")}, 0)
    assert send_batch(store, first) is True
    assert send_batch(store, first) is False
    send_batch(store, media_batch(run_id, 2, {"t": assay.Text("new")}, 0))
    assert [r.body["text"] for r in store.media.list(run_id, "t")] == ["new"]


def test_identical_images_are_stored_once(store: Store) -> None:
    run_id = create_run(store)
    for step in range(3):
        send_batch(store, media_batch(run_id, step + 1, {"x": assay.Image(gradient(1))}, step))
    digests = {r.body["digest"] for r in store.media.list(run_id, "x")}
    assert len(digests) == 1
    assert store.blobs.missing(list(digests)) == []


def test_a_list_of_images_at_one_step_reads_back_as_a_list(store: Store) -> None:
    run_id = create_run(store)
    batch = [assay.Image(gradient(i * 80), caption=str(i)) for i in range(3)]
    send_batch(store, media_batch(run_id, 1, {"batch": batch}, 4))
    ((step, values),) = Api(store=store).run(run_id).media("batch")
    assert step == 4 and [v.caption for v in values] == ["0", "1", "2"]


def test_a_key_keeps_its_kind(store: Store) -> None:
    run_id = create_run(store)
    send_batch(store, media_batch(run_id, 1, {"x": assay.Text("a")}, 0))
    with pytest.raises(InvalidInput, match="holds text"):
        send_batch(store, media_batch(run_id, 2, {"x": assay.Histogram([1.0, 2.0])}, 1))
    assert len(store.media.list(run_id, "x")) == 1


def test_media_naming_a_blob_the_store_lacks_is_refused(store: Store) -> None:
    run_id = create_run(store)
    op = Media(
        key="x", step=0, at=time.time(), kind="image", body={"digest": "ab" * 32}, blobs=["ab" * 32]
    )
    with pytest.raises(InvalidInput):
        store.runs.write_batch(Batch(run_id=run_id, writer="m", seq=1, ops=[op]))
    assert store.media.list(run_id, "x") == []


def test_blob_bytes_inside_a_batch_are_refused(store: Store) -> None:
    run_id = create_run(store)
    batch = Batch(run_id=run_id, writer="m", seq=1, ops=[BlobData(blobs={"ab" * 32: b"x"})])
    with pytest.raises(InvalidInput, match=r"store\.blobs"):
        store.runs.write_batch(batch)


def test_a_body_with_nan_is_refused(store: Store) -> None:
    run_id = create_run(store)
    op = Media(
        key="h",
        step=0,
        at=time.time(),
        kind="histogram",
        body={"counts": [float("nan")], "edges": [0.0, 1.0]},
    )
    with pytest.raises(InvalidInput, match="plain JSON"):
        store.runs.write_batch(Batch(run_id=run_id, writer="m", seq=1, ops=[op]))


def test_an_unknown_run_has_no_media(store: Store) -> None:
    with pytest.raises(NotFound):
        store.media.keys("nosuchrun")
    with pytest.raises(NotFound):
        store.media.list("nosuchrun", "x")


def test_gc_keeps_the_blobs_a_run_logged(sql_store_factory) -> None:  # type: ignore[no-untyped-def]
    store = sql_store_factory()
    run_id = create_run(store)
    send_batch(store, media_batch(run_id, 1, {"x": assay.Image(gradient(3))}, 0))
    digest = store.media.list(run_id, "x")[0].body["digest"]
    store.blobs.put(b"nobody holds this")
    report = store.blobs.collect_garbage(grace=-1.0, dry_run=False)
    assert report.blobs == 1
    assert store.blobs.missing([digest]) == []
    np.testing.assert_array_equal(
        Api(store=store).run(run_id).media("x")[0][1].to_numpy(), gradient(3)
    )


def test_box_layers_read_back_with_their_classes_captions_and_scores(store: Store) -> None:
    """Named layers beside the unnamed list: W&B's two position forms (fractions and
    pixels) kept as corners in pixels, with class ids, captions, every score and the
    layer's class names."""
    run_id = create_run(store)
    layers = {
        "predictions": {
            "box_data": [
                {
                    "position": {"minX": 0.25, "maxX": 0.5, "minY": 0.5, "maxY": 1.0},
                    "class_id": 1,
                    "box_caption": "a cat",
                    "scores": {"acc": 0.9, "loss": 0.1},
                },
                {"position": {"middle": [12, 8], "width": 4, "height": 6}, "domain": "pixel"},
            ],
            "class_labels": {1: "cat", 2: "dog"},
        },
        "ground_truth": [{"box": [1, 2, 3, 4], "class_id": 2, "label": "dog"}],
    }
    image = assay.Image(gradient(1), boxes=layers)
    send_batch(store, media_batch(run_id, 1, {"x": image}, 0))
    got = Api(store=store).run(run_id).media("x")[0][1]
    assert got.boxes == [] and sorted(got.box_layers) == ["ground_truth", "predictions"]
    predictions = got.box_layers["predictions"]
    assert predictions.boxes == [
        {"box": [6.0, 8.0, 12.0, 16.0], "class_id": 1, "caption": "a cat",
         "scores": {"acc": 0.9, "loss": 0.1}},
        {"box": [10.0, 5.0, 14.0, 11.0]},
    ]  # fmt: skip
    assert predictions.class_labels == {1: "cat", 2: "dog"}
    assert got.box_layers["ground_truth"].boxes == [
        {"box": [1.0, 2.0, 3.0, 4.0], "label": "dog", "class_id": 2}
    ]
    assert got.box_layers["ground_truth"].class_labels == {}


def test_an_image_stored_before_box_layers_reads_back_as_it_was(store: Store) -> None:
    """A body as Assay stored boxes before layers (one list, a score per box) reads
    back the same: its boxes as they were, no layers."""
    from assay.media import pixels

    run_id = create_run(store)
    png = pixels.to_png(gradient(2))
    digest = store.blobs.put(png)
    boxes = [{"box": [1.0, 1.0, 5.0, 6.0], "label": "cat", "score": 0.9}]
    body = {"digest": digest, "format": "png", "width": 24, "height": 16, "boxes": boxes}
    op = Media(key="x", step=0, at=time.time(), kind="image", body=body, blobs=[digest])
    store.runs.write_batch(Batch(run_id=run_id, writer="m", seq=1, ops=[op]))
    got = Api(store=store).run(run_id).media("x")[0][1]
    assert got.boxes == boxes and got.box_layers == {}
    np.testing.assert_array_equal(got.to_numpy(), gradient(2))
