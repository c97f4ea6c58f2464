"""Media panels in a real browser (Debian's chromium through Playwright): images with a
step slider, boxes and masks; a table viewer that filters, sorts and pages, with images
in cells; histograms over steps as a heat map; plots; HTML in a sandboxed frame that
runs none of its scripts; video; the same key side by side across compared runs.
Assertions read what the page exposes, not pixels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import assay
from tests import test_ui_browser as ui
from tests.conftest import QUIET
from tests.test_server_e2e import ServerProcess

browser = ui.browser  # the fixtures of the browser tests: one chromium per module
page = ui.page
shoot = ui.shoot
STEPS = 12
PLOTLY_SPEC = {
    "data": [{"type": "scatter", "mode": "markers", "x": [1, 2, 3], "y": [4, 1, 9]}],
    "layout": {"title": {"text": "points"}},
}
# the smallest mp4 header (an ftyp box): a <video> element gets it with its content type
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64)
# stored HTML is untrusted: this script must never run, in the panel's frame or opened alone
SCRIPTED = '<script>document.documentElement.dataset.ran = "1"</script><p id="n">{}</p>'
VEGA_SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"values": [{"a": "x", "b": 3}, {"a": "y", "b": 7}]},
    "mark": "bar",
    "encoding": {
        "x": {"field": "a", "type": "nominal"},
        "y": {"field": "b", "type": "quantitative"},
    },
}


def square(step: int, size: int = 64) -> np.ndarray:
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[..., 2] = 40
    lo = 4 + step * 3
    image[lo : lo + 16, lo : lo + 16] = (255, 200, 0)
    return image


@pytest.fixture(scope="module")
def media_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = tmp_path_factory.mktemp("media") / "store"
    ids = []
    for name, shift in (("left", 0.0), ("right", 1.0)):
        with assay.init(project="vision", name=name, uri=root, settings=QUIET) as run:
            rng = np.random.default_rng(1)
            for step in range(STEPS):
                lo = 4 + step * 3
                mask = np.zeros((64, 64), dtype=np.uint8)
                mask[lo : lo + 16, lo : lo + 16] = 1
                run.log(
                    {
                        "loss": 1.0 / (step + 1),
                        "sample": assay.Image(
                            square(step),
                            caption=f"{name} step {step}",
                            boxes=[
                                {"box": [lo, lo, lo + 16, lo + 16], "label": "box", "score": 0.9}
                            ],
                            masks={"pred": mask},
                            mask_labels={1: "box"},
                        ),
                        "weights": assay.Histogram(rng.normal(shift + step * 0.2, 1.0, 2000)),
                        "page": assay.Html(SCRIPTED.format(f"{name} page {step}")),
                    },
                    step=step,
                )
            rows = [
                [
                    i,
                    f"digit {i % 10}",
                    round(0.5 + (i % 7) / 14, 3),
                    assay.Image(square(i % STEPS, 32)),
                ]
                for i in range(60)
            ]
            figure, axes = plt.subplots(figsize=(3, 2))
            axes.plot(range(10), [v * v for v in range(10)])
            run.log(
                {
                    "predictions": assay.Table(rows, columns=["id", "label", "score", "image"]),
                    "curve": assay.Plot(figure, caption="a curve"),
                    "batch": [assay.Image(square(i, 32), caption=str(i)) for i in range(4)],
                    "sample_text": assay.Text("the quick brown fox"),
                    "scatter": assay.Plot(PLOTLY_SPEC, format="plotly", caption="plotly"),
                    "bars": assay.Plot(VEGA_SPEC, caption="vega-lite"),
                    "movie": assay.Video(MP4, format="mp4", caption="a movie"),
                    "spin": assay.Video(np.stack([square(i, 32) for i in range(4)]), fps=5),
                },
                step=STEPS,
            )
            plt.close(figure)
            ids.append(run.id)
    server = ServerProcess(str(root)).start()
    yield server.url, ids
    server.stop()


def test_an_image_panel_steps_through_its_values(
    page: Any, media_site: tuple[str, list[str]]
) -> None:
    site, ids = media_site
    page.goto(f"{site}/runs/{ids[0]}#media")
    panel = page.locator('.media-panel[data-key="sample"]')
    panel.locator(".media-value").wait_for()
    assert panel.locator(".media-value").get_attribute("data-step") == str(STEPS - 1)
    assert "left step 11" in panel.locator("figcaption").inner_text()
    assert panel.locator(".media-box").count() == 1 and panel.locator("img.media-mask").count() == 1
    loaded = panel.locator(".media-frame img").first.evaluate("i => i.complete && i.naturalWidth")
    assert loaded == 64
    panel.locator("input[type=range]").fill("3")
    page.wait_for_selector('.media-panel[data-key="sample"] .media-value[data-step="3"]')
    assert "left step 3" in panel.locator("figcaption").inner_text()
    shoot(page, "media-run")


def test_histograms_show_a_heat_map_over_steps(
    page: Any, media_site: tuple[str, list[str]]
) -> None:
    site, ids = media_site
    page.goto(f"{site}/runs/{ids[0]}#media")
    panel = page.locator('.media-panel[data-key="weights"]')
    panel.locator("svg.media-heat").wait_for()
    assert panel.locator("svg.media-heat rect").count() > STEPS * 5
    assert panel.locator("svg.media-hist rect").count() == 64
    assert f"Over {STEPS} steps" in panel.inner_text()


def test_the_table_viewer_filters_sorts_and_pages(
    page: Any, media_site: tuple[str, list[str]]
) -> None:
    site, ids = media_site
    page.goto(f"{site}/runs/{ids[0]}#media")
    table = page.locator('.media-panel[data-key="predictions"] .media-table')
    table.locator("tbody tr").first.wait_for()
    assert table.get_attribute("data-rows") == "60"
    assert table.locator("tbody tr").count() == 25
    assert table.locator("tbody tr").first.locator("img").count() == 1  # an image in a cell
    table.locator(".pager a.next").click()
    page.wait_for_selector('.media-panel[data-key="predictions"] .pager >> text=page 2 of 3')
    page.locator('.media-panel[data-key="predictions"] th a[data-sort="score"]').click()
    page.wait_for_selector('.media-panel[data-key="predictions"] th a[data-sort="score"] >> text=▲')
    scores = page.locator('.media-panel[data-key="predictions"] tbody tr td.num:nth-child(3)')
    values = [float(v) for v in scores.all_inner_texts()]
    assert values == sorted(values)
    page.locator('.media-panel[data-key="predictions"] input[name=q]').fill("digit 3")
    page.wait_for_selector('.media-panel[data-key="predictions"] .media-table[data-rows="6"]')
    labels = page.locator(
        '.media-panel[data-key="predictions"] tbody td:nth-child(2)'
    ).all_inner_texts()
    assert labels == ["digit 3"] * 6
    shoot(page, "media-table")


def test_plots_lists_and_text_render(page: Any, media_site: tuple[str, list[str]]) -> None:
    site, ids = media_site
    page.goto(f"{site}/runs/{ids[0]}#media")
    curve = page.locator('.media-panel[data-key="curve"] img')
    curve.wait_for()
    assert curve.evaluate("i => i.complete && i.naturalWidth > 100")
    batch = page.locator('.media-panel[data-key="batch"] .media-item')
    batch.first.wait_for()
    assert batch.count() == 4
    assert (
        page.locator('.media-panel[data-key="sample_text"] pre').inner_text()
        == "the quick brown fox"
    )


def test_plotly_and_vega_lite_specs_are_drawn(page: Any, media_site: tuple[str, list[str]]) -> None:
    site, ids = media_site
    page.goto(f"{site}/runs/{ids[0]}#media")
    scatter = page.locator('.media-panel[data-key="scatter"] .media-plot')
    scatter.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.media-plot')].every(f => "
        "f.dataset.state === 'drawn' || f.dataset.state === 'failed')"
    )
    assert scatter.get_attribute("data-state") == "drawn"
    assert scatter.locator(".main-svg .scatterlayer .point").count() == 3
    bars = page.locator('.media-panel[data-key="bars"] .media-plot')
    assert bars.get_attribute("data-state") == "drawn"
    assert bars.locator("svg .mark-rect path").count() == 2
    scatter.scroll_into_view_if_needed()
    shoot(page, "media-plots")


def test_compare_shows_a_key_side_by_side_across_runs(
    page: Any, media_site: tuple[str, list[str]]
) -> None:
    site, ids = media_site
    page.goto(f"{site}/compare?runs={','.join(ids)}")
    side = page.locator(".media-compare .media-side")
    side.wait_for()
    page.locator(".media-compare select[name=key]").select_option("sample")
    page.wait_for_selector(
        ".media-compare .media-side .media-panel figcaption >> text=right step 11"
    )
    captions = page.locator(".media-compare .media-side figcaption").all_inner_texts()
    assert [c.split(" ")[0] for c in captions] == ["left", "right"]
    page.locator(".media-compare input[name=step]").fill("2")
    page.locator(".media-compare input[name=step]").dispatch_event("change")
    page.wait_for_selector(".media-compare figcaption >> text=right step 2")
    assert "left step 2" in page.locator(".media-compare .media-side").inner_text()
    shoot(page, "media-compare")


def test_a_blob_of_another_project_is_not_served(
    page: Any, media_site: tuple[str, list[str]]
) -> None:
    site, _ = media_site
    response = page.request.get(f"{site}/ui/media/blob/{'ab' * 32}?format=png")
    assert response.status == 404


def test_html_shows_in_a_sandboxed_frame_and_video_in_its_element(
    page: Any, media_site: tuple[str, list[str]]
) -> None:
    site, ids = media_site
    page.goto(f"{site}/runs/{ids[0]}#media")
    panel = page.locator('.media-panel[data-key="page"]')
    panel.locator("iframe").wait_for()
    assert panel.locator("iframe").get_attribute("sandbox") == ""
    inside = panel.frame_locator("iframe")
    assert inside.locator("#n").inner_text() == f"left page {STEPS - 1}"
    assert inside.locator("html[data-ran]").count() == 0  # its script ran not
    panel.locator("input[type=range]").fill("2")
    page.wait_for_selector('.media-panel[data-key="page"] .media-value[data-step="2"]')
    assert panel.frame_locator("iframe").locator("#n").inner_text() == "left page 2"
    movie = page.locator('.media-panel[data-key="movie"] video[controls] source')
    movie.wait_for(state="attached")
    assert movie.get_attribute("type") == "video/mp4"
    assert "a movie" in page.locator('.media-panel[data-key="movie"] figcaption').inner_text()
    served = page.request.get(site + movie.get_attribute("src"))
    assert served.headers["content-type"] == "video/mp4" and served.body() == MP4
    spin = page.locator('.media-panel[data-key="spin"] img')
    spin.wait_for()
    spin.scroll_into_view_if_needed()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=spin.element_handle())
    assert spin.evaluate("i => i.naturalWidth") == 32
    panel.scroll_into_view_if_needed()
    shoot(page, "media-html-video")
    html = site + panel.locator("iframe").get_attribute("src")
    response = page.request.get(html)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    page.goto(html)  # opened on its own, it still runs nothing
    assert page.locator("#n").inner_text() == "left page 2"
    assert page.locator("html[data-ran]").count() == 0
