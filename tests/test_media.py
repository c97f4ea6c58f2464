"""Rich values through the SDK: ``run.log`` with images, tables, histograms, plots, audio
and text; offline and ``assay sync``; a real server process; and bad input refused at the
call with nothing already logged lost."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from assay.media import table as table_mod
from assay.sdk import writer as writer_mod
from assay.sdk.sync import sync
from assay.store.base import journal_root, open_store
from tests.conftest import QUIET


def picture(seed: int, shape: tuple[int, ...] = (32, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_rich_values_logged_beside_scalars_read_back(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for step in range(4):
            run.log(
                {
                    "loss": 1.0 / (step + 1),
                    "sample": assay.Image(picture(step), caption=f"s{step}"),
                    "grads": assay.Histogram(np.random.default_rng(step).normal(size=500)),
                },
                step=step,
            )
        run.log({"preds": assay.Table([[1, "x"], [2, "y"]], columns=["a", "b"])})
        run.log({"note": assay.Text("hello")})
    with assay.Api(store_uri) as api:
        got = api.run(run.id)
        assert got.history(["loss"], format="numpy")["loss"].steps.tolist() == [0, 1, 2, 3]
        images = got.media("sample")
        assert [s for s, _ in images] == [0, 1, 2, 3]
        np.testing.assert_array_equal(images[3][1].to_numpy(), picture(3))
        assert [int(h.counts.sum()) for _, h in got.media("grads")] == [500] * 4
        assert got.media("preds")[0][1].to_pandas()["b"].tolist() == ["x", "y"]
        assert str(got.media("note")[0][1]) == "hello"
        assert {k.key for k in got.media_keys()} == {"sample", "grads", "preds", "note"}


def test_the_logged_copy_is_kept_even_if_the_array_changes_after(store_uri: str) -> None:
    buffer = picture(1)
    expected = buffer.copy()
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"x": assay.Image(buffer)})
        buffer[:] = 0  # a training loop reusing its buffer
    with assay.Api(store_uri) as api:
        np.testing.assert_array_equal(api.run(run.id).media("x")[0][1].to_numpy(), expected)


def test_image_inputs_of_every_accepted_form(store_uri: str, tmp_path: Path) -> None:
    from PIL import Image as PILImage

    rgba = picture(2, (8, 10, 4))
    PILImage.fromarray(rgba[..., :3]).save(tmp_path / "x.jpg", quality=95)
    values = {
        "gray": assay.Image(picture(3, (8, 10))),
        "gray1": assay.Image(picture(3, (8, 10, 1))),
        "rgba": assay.Image(rgba),
        "chw": assay.Image(np.ascontiguousarray(picture(4, (8, 10, 3)).transpose(2, 0, 1))),
        "float": assay.Image(np.full((8, 10, 3), 0.5, dtype=np.float32)),
        "bool": assay.Image(np.eye(8, 10, dtype=bool)),
        "pil": assay.Image(PILImage.fromarray(rgba)),
        "file": assay.Image(tmp_path / "x.jpg", caption="a jpeg"),
        "boxed": assay.Image(
            picture(5, (8, 10, 3)),
            boxes=[{"box": [1, 1, 5, 6], "label": "cat", "score": 0.9}],
            masks={"pred": np.eye(8, 10, dtype=np.int64) * 2},
            mask_labels={2: "road"},
        ),
    }
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log(values)
    with assay.Api(store_uri) as api:
        got = {k: api.run(run.id).media(k)[0][1] for k in values}
    assert got["gray"].to_numpy().shape == (8, 10)
    np.testing.assert_array_equal(got["gray1"].to_numpy(), picture(3, (8, 10, 1))[..., 0])
    np.testing.assert_array_equal(got["rgba"].to_numpy(), rgba)
    np.testing.assert_array_equal(got["chw"].to_numpy(), picture(4, (8, 10, 3)))
    assert got["float"].to_numpy()[0, 0].tolist() == [128, 128, 128]
    assert got["bool"].to_numpy()[0, 0] == 255 and got["bool"].to_numpy()[0, 1] == 0
    np.testing.assert_array_equal(got["pil"].to_numpy(), rgba)
    assert got["file"].format == "jpeg" and got["file"].to_numpy().shape == (8, 10, 3)
    assert got["file"].data == (tmp_path / "x.jpg").read_bytes()  # kept as it was
    boxed = got["boxed"]
    assert boxed.boxes == [{"box": [1.0, 1.0, 5.0, 6.0], "label": "cat", "score": 0.9}]
    assert boxed.mask("pred")[3, 3] == 2 and boxed.mask_labels == {2: "road"}


def test_plots_audio_and_text(store_uri: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 2))
    axes.plot([0, 1, 2], [2, 1, 3])
    vega = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "mark": "bar",
        "data": {"values": [{"a": "x", "b": 1}]},
    }
    plotly = {"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {}}
    wave = np.sin(np.linspace(0, 40, 8000)) * 0.5
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"fig": assay.Plot(figure, caption="curve")})
        plt.close(figure)
        run.log({"vega": assay.Plot(vega), "plotly": assay.Plot(plotly, format="plotly")})
        run.log({"tone": assay.Audio(wave, sample_rate=8000, caption="a tone")})
    with assay.Api(store_uri) as api:
        got = api.run(run.id)
        fig = got.media("fig")[0][1]
        assert fig.format == "png" and fig.to_numpy().ndim == 3 and fig.caption == "curve"
        assert got.media("vega")[0][1].spec == vega
        assert got.media("plotly")[0][1].spec == plotly
        tone = got.media("tone")[0][1]
        assert tone.sample_rate == 8000 and tone.to_numpy().shape == (8000,)
        assert abs(int(tone.to_numpy().max()) - 16384) < 10


def test_offline_media_wait_in_the_journal_until_sync(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, mode="offline", settings=QUIET) as run:
        for step in range(3):
            run.log({"x": assay.Image(picture(step)), "loss": float(step)})
    store = open_store(store_uri)
    report = sync(journal_root(store_uri), store)
    assert report.batches >= 2 and report.rejected == 0
    got = assay.Api(store=store).run(run.id).media("x")
    assert [s for s, _ in got] == [0, 1, 2]
    np.testing.assert_array_equal(got[1][1].to_numpy(), picture(1))
    store.close()


def test_past_the_memory_bound_log_encodes_itself_and_nothing_is_dropped(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "MAX_MEDIA_BYTES", 10_000)  # about three images
    monkeypatch.setattr(writer_mod, "MEDIA_BATCH_BYTES", 5_000)  # and several batches
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for step in range(20):
            run.log({"x": assay.Image(picture(step))}, step=step)
            assert run._writer is not None and run._writer._media_bytes <= 10_000
    assert run.finish() is True
    with assay.Api(store_uri) as api:
        assert [s for s, _ in api.run(run.id).media("x")] == list(range(20))
        assert "_assay/dropped_points" not in api.run(run.id).summary


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: assay.Image(np.zeros((4, 4, 2), np.uint8)), r"shape \(4, 4, 2\)"),
        (lambda: assay.Image(np.zeros((2, 3, 4, 5), np.uint8)), "expected HxW"),
        (lambda: assay.Image(np.zeros((4, 4), np.int64)), "dtype int64"),
        (lambda: assay.Image(np.full((4, 4), np.nan)), "NaN"),
        (lambda: assay.Image(np.full((4, 4), 3.0)), r"\[0, 1\]"),
        (lambda: assay.Image("/nonexistent/x.png"), "cannot read image file"),
        (lambda: assay.Image(io.BytesIO(b"not an image")), "cannot read BytesIO"),
        (lambda: assay.Image(np.zeros((4, 4), np.uint8), masks={"m": np.zeros((3, 3))}), "mask"),
        (lambda: assay.Image(np.zeros((4, 4), np.uint8), boxes=[{"box": [1, 2]}]), "4 numbers"),
        (lambda: boxed({"p": [{"position": {"x": 1, "y": 2}}]}), "unknown coordinate form"),
        (lambda: boxed({"p": [{"position": CENTRE | {"width": -1}}]}), "negative width"),
        (lambda: boxed({"p": [{"position": CORNERS | {"maxX": 0}}]}), "under minX"),
        (
            lambda: boxed({"p": [{"box": [0, 0, 1, 1], "scores": {"acc": "high"}}]}),
            "'acc'.*not a n",
        ),
        (lambda: boxed({"p": [{"position": CORNERS, "domain": "cm"}]}), r"\['domain'\]"),
        (lambda: boxed({"p": [{"box": [0, 0, 1, 1], "class_id": 1.5}]}), "class_id"),
        (lambda: boxed({"p": {"box_data": [], "class_labels": {"1": "cat"}}}), "class_labels"),
        (
            lambda: boxed({"p": [{"box": [0, 0, 1, 1], "colour": "red"}]}),
            r"unknown fields \['colour'\]",
        ),
        (lambda: boxed("boxes"), "a list of boxes or a dict of named box layers"),
        (lambda: assay.Plot(object()), "not a builtins.object"),
        (lambda: assay.Plot({"data": []}), "format="),
        (lambda: assay.Histogram(counts=[1, 2], edges=[0, 1]), "one edge more"),
        (lambda: assay.Histogram(["a", "b"]), "must be numbers"),
        (lambda: assay.Table([[1, object()]], columns=["a", "b"]), r"cell \(0, 'b'\)"),
        (lambda: assay.Table([[1, 2]], columns=["a"]), "2 cells"),
        (lambda: assay.Audio(np.zeros(10)), "sample_rate"),
        (lambda: assay.Text(3), "takes a str"),
    ],
)
def test_bad_values_are_refused_when_made(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        make()


CORNERS = {"minX": 0.1, "maxX": 0.5, "minY": 0.1, "maxY": 0.5}
CENTRE = {"middle": [2, 2], "width": 1, "height": 1}


def boxed(boxes: object) -> assay.Image:
    return assay.Image(np.zeros((4, 4), np.uint8), boxes=boxes)  # type: ignore[arg-type]


def test_an_image_with_more_boxes_than_the_named_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.media import boxes as boxes_mod

    monkeypatch.setattr(boxes_mod, "MAX_BOXES", 3)
    box = {"box": [0, 0, 1, 1]}
    assert len(boxed({"a": [box, box], "b": [box]}).box_layers) == 2
    with pytest.raises(InvalidInput, match="MAX_BOXES"):
        boxed({"a": [box, box], "b": [box, box]})
    with pytest.raises(InvalidInput, match="MAX_BOXES"):
        boxed([box] * 4)


def test_a_table_over_the_named_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_mod, "MAX_TABLE_CELLS", 100)
    with pytest.raises(InvalidInput, match="MAX_TABLE_CELLS"):
        assay.Table([[i, i] for i in range(51)], columns=["a", "b"])


def test_bad_input_at_the_call_loses_nothing_logged_before(store_uri: str) -> None:
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"x": assay.Image(picture(1)), "loss": 1.0}, step=0)
        with pytest.raises(InvalidInput, match=r"wrap an array in assay\.Image"):
            run.log({"raw": picture(2), "loss": 2.0}, step=1)
        with pytest.raises(InvalidInput, match="one kind"):
            run.log({"mixed": [assay.Image(picture(3)), assay.Text("no")]}, step=1)
        with pytest.raises(InvalidInput, match="holds image values"):
            run.log({"x": assay.Text("not an image")}, step=1)
        run.log({"x": assay.Image(picture(4)), "loss": 3.0}, step=2)
    with assay.Api(store_uri) as api:
        got = api.run(run.id)
        assert [s for s, _ in got.media("x")] == [0, 2]
        assert got.history(["loss"], format="numpy")["loss"].values.tolist() == [1.0, 3.0]
        assert {k.key for k in got.media_keys()} == {"x"}


def test_media_through_a_real_server_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_server_e2e import ServerProcess

    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journal"))
    server = ServerProcess(str(tmp_path / "server-store")).start()
    try:
        with assay.init(project="p", uri=server.url, settings=QUIET) as run:
            for step in range(3):
                run.log({"x": assay.Image(picture(step)), "h": assay.Histogram([step, 1.0])})
            run.log({"t": assay.Table([[assay.Image(picture(9)), "nine"]], columns=["i", "n"])})
        with assay.Api(server.url) as api:
            got = api.run(run.id)
            assert [s for s, _ in got.media("x")] == [0, 1, 2]
            np.testing.assert_array_equal(got.media("x")[2][1].to_numpy(), picture(2))
            cell = got.media("t")[0][1].to_pandas()["i"][0]
            np.testing.assert_array_equal(cell.to_numpy(), picture(9))
            assert [int(h.counts.sum()) for _, h in got.media("h")] == [2, 2, 2]
    finally:
        server.stop()


def test_a_run_cannot_claim_or_read_another_projects_image(tmp_path: Path) -> None:
    import time

    from assay.errors import Conflict, Forbidden
    from assay.records import Batch, Media
    from assay.sdk.media import send_batch
    from assay.store.sql.schema import blobs
    from tests.contract.test_media import media_batch
    from tests.test_server import Team, new_run

    team = Team(tmp_path / "server")
    ann, bob, vic = team.store("ann"), team.store("bob"), team.store("vic")
    alpha = new_run("alpha")
    ann.runs.write_batch(alpha)
    send_batch(ann, media_batch(alpha.run_id, 1, {"x": assay.Image(picture(7))}, 0))
    digest = vic.media.list(alpha.run_id, "x")[0].body["digest"]
    assert assay.Api(store=vic).run(alpha.run_id).media("x")[0][1].data == vic.blobs.get(digest)
    with team.app.state.assay.store.engine.begin() as conn:  # as if uploaded a week ago
        conn.execute(blobs.update().values(stored_at=time.time() - 7 * 24 * 3600))
    beta = new_run("beta")
    bob.runs.write_batch(beta)
    stolen = Media(
        key="x", step=0, at=time.time(), kind="image", body={"digest": digest}, blobs=[digest]
    )
    with pytest.raises(Conflict):
        bob.runs.write_batch(Batch(run_id=beta.run_id, writer="w", seq=1, ops=[stolen]))
    assert bob.blobs.missing([digest]) == [digest]  # still invisible to bob
    with pytest.raises(Forbidden):
        bob.media.list(alpha.run_id, "x")
    team.client.close()


def test_recycled_copy_buffers_never_mix_images(store_uri: str) -> None:
    held = []
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for step in range(30):
            image = assay.Image(picture(step))
            held.append(image)
            run.log({"x": image}, step=step)
            if step % 3 == 0:
                run.flush()  # the writer encodes, and its buffers go back for reuse
    # an image the caller still holds reads back as it was logged, encoded or not
    for step, image in enumerate(held):
        np.testing.assert_array_equal(image.to_numpy(), picture(step))
    with assay.Api(store_uri) as api:
        for step, image in api.run(run.id).media("x"):
            np.testing.assert_array_equal(image.to_numpy(), picture(step))


def test_a_value_over_the_size_limit_is_refused_at_the_call(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.media import codec

    monkeypatch.setattr(codec, "MAX_VALUE_BYTES", 10_000)
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        with pytest.raises(InvalidInput, match="over 10000"):
            run.log({"x": [assay.Image(picture(i)) for i in range(4)]})
        run.log({"x": assay.Image(picture(1))})
    with assay.Api(store_uri) as api:
        assert len(api.run(run.id).media("x")) == 1


def test_media_reads_back_past_one_page(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.sdk import media as sdk_media

    monkeypatch.setattr(sdk_media, "MAX_MEDIA_PAGE", 4)
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for step in range(10):
            run.log({"t": assay.Text(str(step))}, step=step)
    with assay.Api(store_uri) as api:
        got = api.run(run.id).media("t")
        assert [(s, str(v)) for s, v in got] == [(s, str(s)) for s in range(10)]
        assert [s for s, _ in api.run(run.id).media("t", start=3, end=8)] == list(range(3, 9))


def test_images_copied_into_reserved_memory_read_back_exactly(store_uri: str) -> None:
    # 256x256x3 images are large enough to be copied into populated slabs; logged faster
    # than the writer encodes them, many wait at once in the same slabs
    shape = (256, 256, 3)
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for step in range(120):
            run.log({"x": assay.Image(picture(step, shape))}, step=step)
    with assay.Api(store_uri) as api:
        images = api.run(run.id).media("x")
    assert [step for step, _ in images] == list(range(120))
    for step, image in images:
        np.testing.assert_array_equal(image.to_numpy(), picture(step, shape))
