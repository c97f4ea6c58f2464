"""``assay.Html`` and ``assay.Video`` through ``run.log``: kept byte for byte (files,
bytes, strings), frames encoded as a GIF in the writer, offline and ``assay sync``,
within the writer's memory bound, exported and imported again, and bad input refused
at the call naming what was wrong."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from assay.sdk import writer as writer_mod
from assay.sdk.sync import sync
from assay.store.base import journal_root, open_store
from tests.conftest import QUIET, StoreFactory

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], dtype=np.uint8)
# the smallest mp4 header: an ftyp box (a file starts with it; the bytes are kept as given)
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(64))
WEBM = b"\x1a\x45\xdf\xa3" + bytes(40)
PAGE = "<!doctype html><title>r</title><p>accuracy <b>0.93</b> · naïve</p>\n"


def frames(seed: int, count: int = 5, shape: tuple[int, int] = (6, 8)) -> np.ndarray:
    """RGB frames of four colours (a GIF's palette holds them exactly)."""
    picks = np.random.default_rng(seed).integers(0, len(COLOURS), (count, *shape))
    return COLOURS[picks]


def gif_bytes(seed: int) -> bytes:
    from PIL import Image as PILImage

    pictures = [PILImage.fromarray(f) for f in frames(seed)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], loop=0)
    return buffer.getvalue()


def decoded(data: bytes) -> tuple[list[np.ndarray], int]:
    """A GIF's frames (RGB) and its first frame's duration in milliseconds."""
    from PIL import Image as PILImage
    from PIL import ImageSequence

    with PILImage.open(io.BytesIO(data)) as gif:
        duration = int(gif.info["duration"])
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)], duration


def test_html_and_video_read_back_byte_for_byte(store_uri: str, tmp_path: Path) -> None:
    (tmp_path / "report.html").write_bytes(PAGE.encode())
    (tmp_path / "clip.gif").write_bytes(gif_bytes(1))
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log(
            {
                "page": assay.Html(PAGE),
                "report": assay.Html(tmp_path / "report.html"),
                "named": assay.Html(str(tmp_path / "report.html")),  # a file's name, as W&B's
                "opened": assay.Html(io.StringIO("<i>from a file object</i>")),
                "clip": assay.Video(tmp_path / "clip.gif", caption="a clip"),
                "movie": assay.Video(MP4, format="mp4", caption="ftyp only", fps=24),
                "web": assay.Video(io.BytesIO(WEBM), format="webm"),
                "loss": 0.5,
            },
            step=3,
        )
    with assay.Api(store_uri) as api:
        got = api.run(run.id)
        kinds = {k.key: k.kind for k in got.media_keys()}
        ((step, page),) = got.media("page")
        report = got.media("report")[0][1]
        opened = got.media("opened")[0][1]
        clip, movie, web = (got.media(k)[0][1] for k in ("clip", "movie", "web"))
        assert step == 3 and page.html == PAGE and page.data == PAGE.encode()
        assert report.data == (tmp_path / "report.html").read_bytes()
        assert got.media("named")[0][1].data == report.data
        assert opened.html == "<i>from a file object</i>"
        assert clip.data == (tmp_path / "clip.gif").read_bytes()
        assert (clip.format, clip.caption, clip.fps) == ("gif", "a clip", None)
        assert (movie.data, movie.format, movie.caption, movie.fps) == (MP4, "mp4", "ftyp only", 24)
        assert (web.data, web.format, web.caption) == (WEBM, "webm", None)
    assert kinds == {k: "html" for k in ("page", "report", "named", "opened")} | {
        k: "video" for k in ("clip", "movie", "web")
    }


def test_frames_are_encoded_as_a_gif_in_the_writer(store_uri: str) -> None:
    logged = frames(2)
    buffer = logged.copy()
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        value = assay.Video(buffer, fps=10, caption="rollout")
        assert value.nbytes == logged.nbytes  # what waits for the writer: the copy
        run.log({"rollout": value, "gray": assay.Video(logged[..., 0])}, step=0)
        buffer[:] = 0  # a loop reusing its buffer: the copy taken at the call is logged
        chw = np.ascontiguousarray(logged.transpose(0, 3, 1, 2))  # W&B's order
        run.log({"rollout": [assay.Video(chw), assay.Video(logged[:2], fps=2)]}, step=1)
    with assay.Api(store_uri) as api:
        ((_, first), (_, pair)) = api.run(run.id).media("rollout")
        gray = api.run(run.id).media("gray")[0][1]
        got, duration = decoded(first.data)
        assert (first.format, first.fps, first.caption) == ("gif", 10.0, "rollout")
        assert (first.width, first.height) == (8, 6) and duration == 100
        assert len(got) == 5 and all(np.array_equal(a, b) for a, b in zip(got, logged, strict=True))
        assert np.array_equal(decoded(gray.data)[0][0][..., 0], logged[0, ..., 0])
        assert decoded(pair[0].data)[0][3].tolist() == logged[3].tolist()
        assert pair[0].fps == 4.0 and decoded(pair[1].data)[1] == 500


def test_offline_html_and_video_wait_in_the_journal_until_sync(
    store_uri: str, tmp_path: Path
) -> None:
    with assay.init(project="p", uri=store_uri, mode="offline", settings=QUIET) as run:
        for step in range(3):
            run.log(
                {"page": assay.Html(f"<p>{step}</p>"), "clip": assay.Video(frames(step))},
                step=step,
            )
    store = open_store(store_uri)
    report = sync(journal_root(store_uri), store)
    assert report.rejected == 0
    got = assay.Api(store=store).run(run.id)
    assert [(s, v.html) for s, v in got.media("page")] == [(s, f"<p>{s}</p>") for s in range(3)]
    assert [len(decoded(v.data)[0]) for _, v in got.media("clip")] == [5, 5, 5]
    store.close()


def test_video_frames_past_the_memory_bound_are_encoded_by_log_and_none_dropped(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "MAX_MEDIA_BYTES", 2_000)  # about three videos
    monkeypatch.setattr(writer_mod, "MEDIA_BATCH_BYTES", 1_000)
    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        for step in range(12):
            run.log({"v": assay.Video(frames(step)), "h": assay.Html("x" * 500)}, step=step)
            assert run._writer is not None and run._writer._media_bytes <= 2_000
    with assay.Api(store_uri) as api:
        videos = api.run(run.id).media("v")
        assert [s for s, _ in videos] == list(range(12))
        assert decoded(videos[7][1].data)[0][2].tolist() == frames(7)[2].tolist()
        assert "_assay/dropped_points" not in api.run(run.id).summary


def test_html_and_video_go_out_and_back_in_with_an_export(
    store_uri: str, tmp_path: Path, store_factory: StoreFactory
) -> None:
    from assay.importers import export_project, import_export

    with assay.init(project="p", uri=store_uri, settings=QUIET) as run:
        run.log({"page": assay.Html(PAGE), "clip": assay.Video(MP4, format="mp4", fps=30)})
    source = open_store(store_uri)
    sent = export_project(source, "p", tmp_path / "out")
    source.close()
    target = store_factory()
    assert import_export(target, tmp_path / "out").differences(sent) == []
    got = assay.Api(store=target).run(run.id)
    assert got.media("page")[0][1].html == PAGE
    clip = got.media("clip")[0][1]
    assert (clip.data, clip.format, clip.fps) == (MP4, "mp4", 30.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: assay.Html(3), "takes a str of HTML, bytes, a pathlib.Path or an open file"),
        (lambda: assay.Html(b"<p>\xff</p>"), "must be UTF-8 text; byte 3"),
        (lambda: assay.Html("\ud800"), "lone surrogate"),
        (lambda: assay.Html(Path("/nonexistent/r.html")), "cannot read html file"),
        (lambda: assay.Html("/nonexistent/r.htm"), "cannot read html file"),
        (lambda: assay.Video("/nonexistent/x.mp4"), "cannot read video file"),
        (lambda: assay.Video("clip.avi"), "video format 'avi' is not one Assay keeps"),
        (lambda: assay.Video(MP4, format="mov"), "'mov' is not one Assay keeps"),
        (lambda: assay.Video(MP4), "needs format="),
        (lambda: assay.Video(b"not a gif", format="gif"), "is not a gif file"),
        (lambda: assay.Video(MP4, format="webm"), "is not a webm file"),
        (lambda: assay.Video(io.StringIO("x"), format="mp4"), "binary mode"),
        (lambda: assay.Video(frames(1), format="mp4"), r"imageio.*\(pip install av\)"),
        (lambda: assay.Video(frames(1).astype(np.float32)), "dtype float32"),
        (lambda: assay.Video(frames(1)[0, ..., 0]), r"shape \(6, 8\); expected frames"),
        (lambda: assay.Video(np.zeros((0, 4, 4), np.uint8)), "empty"),
        (lambda: assay.Video(frames(1), fps=0), "fps must be a number above 0"),
        (lambda: assay.Video(frames(1), fps="fast"), "fps"),
        (lambda: assay.Video(frames(1), caption=3), "caption"),
    ],
)
def test_bad_html_and_video_are_refused_when_made(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message):
        make()


def test_a_video_over_the_named_frame_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.media import video as video_mod

    monkeypatch.setattr(video_mod, "MAX_PIXELS", 100)
    with pytest.raises(InvalidInput, match="MAX_PIXELS"):
        assay.Video(frames(1, count=3))
