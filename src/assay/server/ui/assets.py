"""Static files served under a content hash, so browsers may cache them for ever."""

from __future__ import annotations

import mimetypes
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from assay import digests
from assay.errors import NotFound

STATIC = Path(__file__).parent / "static"
HTMX = "vendor/htmx-2.0.11/htmx.min.js"
UPLOT_JS = "vendor/uplot-1.6.32/uPlot.iife.min.js"
UPLOT_CSS = "vendor/uplot-1.6.32/uPlot.min.css"
# loaded by plots.js only on a page that shows a Plotly or Vega-Lite plot (megabytes)
PLOT_LIBRARIES = {
    "plotly": ("vendor/plotly.js-dist-min-4.1.2/plotly.min.js",),
    "vega-lite": (
        "vendor/vega-6.4.0/vega.min.js",
        "vendor/vega-lite-6.4.3/vega-lite.min.js",
        "vendor/vega-embed-7.3.0/vega-embed.min.js",
    ),
}


def plot_library(format: str) -> str:
    """The URLs of the scripts that draw a plot of ``format``, space-separated, in order."""
    return " ".join(asset(path) for path in PLOT_LIBRARIES[format])


router = APIRouter()


@cache
def _digest(path: str) -> str:
    return digests.of_file(STATIC / path)[:12]


def asset(path: str) -> str:
    """The URL of a static file, with its content hash in it."""
    return f"/static/{_digest(path)}/{path}"


@router.get("/static/{digest}/{path:path}", include_in_schema=False)
def static(digest: str, path: str) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise NotFound(f"no static file {path!r}")
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    cache_control = "public, max-age=31536000, immutable" if digest == _digest(path) else "no-cache"
    return Response(target.read_bytes(), media_type=kind, headers={"cache-control": cache_control})
