"""What the media panels show, decided apart from routing: a histogram series as a heat
map over steps, a table's page after filtering and sorting, an image's boxes as
percentages, what a blob is served as. Pure functions of stored records."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

from assay.records import MediaRecord

HEAT_ROWS = 48  # value bins of the heat map
HEAT_COLUMNS = 240  # steps shown at most (evenly picked when there are more)
TABLE_PAGE = 25
CONTENT_TYPES = {  # what a blob is served as, by a value's format
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogv": "video/ogg",  # a video's "ogg" (an audio's "ogg" is audio/ogg)
    "html": "text/html; charset=utf-8",
    "plotly": "application/json",
    "vega-lite": "application/json",
}
# what a blob may do in the browser: nothing (an image, a clip, a spec)...
BLOB_POLICY = "default-src 'none'"
# ...and stored HTML, which is untrusted: no script, no request, no plugin, no form, an
# opaque origin (``sandbox``) even when opened on its own, framed only by Assay's pages;
# inline styles and data: images and fonts still show
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def served_as(kind: str, format: str) -> str:
    """The ``format`` a value's blob is asked for: its own, but a video's Ogg is ``ogv``."""
    return "ogv" if kind == "video" and format == "ogg" else format


def policy_of(format: str) -> str:
    return HTML_POLICY if format == "html" else BLOB_POLICY


@dataclass(kw_only=True)
class HeatCell:
    x: float  # percent of the width
    y: float  # percent of the height
    w: float
    h: float
    shade: float  # 0..1, the share of the step's values in this value bin (relative to the max)
    title: str


@dataclass(kw_only=True)
class Heatmap:
    """Histograms over steps: one column per step, one row per value bin (common to all
    steps; each step's counts are spread over them by bin centre)."""

    cells: list[HeatCell] = field(default_factory=list)
    low: float = 0.0
    high: float = 0.0
    first_step: int = 0
    last_step: int = 0
    steps: int = 0

    @classmethod
    def build(cls, records: list[MediaRecord]) -> Heatmap:
        usable = [r for r in records if r.body.get("counts") and "items" not in r.body]
        if not usable:
            return cls()
        if len(usable) > HEAT_COLUMNS:
            pick = {round(i * (len(usable) - 1) / (HEAT_COLUMNS - 1)) for i in range(HEAT_COLUMNS)}
            usable = [r for i, r in enumerate(usable) if i in pick]
        low = min(float(r.body["edges"][0]) for r in usable)
        high = max(float(r.body["edges"][-1]) for r in usable)
        span = (high - low) or 1.0
        width = 100.0 / len(usable)
        cells: list[HeatCell] = []
        for col, record in enumerate(usable):
            rows = _rebin(record.body["counts"], record.body["edges"], low, span)
            top = max(rows) or 1.0
            for row, count in enumerate(rows):
                if count <= 0:
                    continue
                lo = low + span * row / HEAT_ROWS
                cells.append(
                    HeatCell(
                        x=col * width,
                        y=100.0 * (HEAT_ROWS - row - 1) / HEAT_ROWS,
                        w=width,
                        h=100.0 / HEAT_ROWS,
                        shade=count / top,
                        title=f"step {record.step}: {count:g} near {lo:.4g}",
                    )
                )
        return cls(
            cells=cells,
            low=low,
            high=high,
            first_step=usable[0].step,
            last_step=usable[-1].step,
            steps=len(usable),
        )


def _rebin(counts: list[float], edges: list[float], low: float, span: float) -> list[float]:
    rows = [0.0] * HEAT_ROWS
    for i, count in enumerate(counts):
        centre = (float(edges[i]) + float(edges[i + 1])) / 2
        row = min(HEAT_ROWS - 1, max(0, int((centre - low) / span * HEAT_ROWS)))
        rows[row] += float(count)
    return rows


def bars(body: dict[str, Any]) -> list[tuple[float, float, float, str]]:
    """One step's histogram as (x %, width %, height %, title) bars."""
    counts = [float(c) for c in body.get("counts", [])]
    edges = [float(e) for e in body.get("edges", [])]
    if not counts:
        return []
    top = max(counts) or 1.0
    width = 100.0 / len(counts)
    return [
        (i * width, width, 100.0 * c / top, f"[{edges[i]:.4g}, {edges[i + 1]:.4g}): {c:g}")
        for i, c in enumerate(counts)
    ]


def box_style(box: dict[str, Any], width: int, height: int) -> str:
    """An image box's position over the image, in percent (so it scales with it)."""
    x0, y0, x1, y1 = (float(v) for v in box["box"])
    left, top = 100.0 * x0 / max(width, 1), 100.0 * y0 / max(height, 1)
    w, h = 100.0 * (x1 - x0) / max(width, 1), 100.0 * (y1 - y0) / max(height, 1)
    return f"left:{left:.2f}%;top:{top:.2f}%;width:{w:.2f}%;height:{h:.2f}%"


def box_text(box: dict[str, Any], class_labels: dict[str, str] | None = None) -> str:
    """What a box's tag says: its caption, else its label, else its class's name (from
    its layer's ``class_labels``), then its score or named scores."""
    class_id = box.get("class_id")
    named = (class_labels or {}).get(str(class_id)) if class_id is not None else None
    fallback = f"class {class_id}" if class_id is not None else ""
    parts = [str(box.get("caption") or box.get("label") or named or fallback)]
    if box.get("score") is not None:
        parts.append(f"{float(box['score']):.2f}")
    for name, value in (box.get("scores") or {}).items():
        parts.append(f"{name} {float(value):.2f}")
    return " ".join(p for p in parts if p)


@dataclass(kw_only=True)
class TablePage:
    """A table's rows after a filter (a substring of any cell, case-insensitive) and a
    sort (by one column; None sorts first; NaN last), cut to one page."""

    columns: list[str]
    rows: list[list[Any]]
    total: int
    matching: int
    page: int
    pages: int
    sort: str | None
    desc: bool
    q: str

    @classmethod
    def build(
        cls,
        columns: list[str],
        rows: list[list[Any]],
        *,
        sort: str | None,
        desc: bool,
        q: str,
        page: int,
    ) -> TablePage:
        kept = [r for r in rows if _matches(r, q)] if q else list(rows)
        if sort in columns:
            at = columns.index(sort)
            kept.sort(key=lambda r: _sort_key(r[at]), reverse=desc)
        pages = max(1, math.ceil(len(kept) / TABLE_PAGE))
        page = min(max(1, page), pages)
        start = (page - 1) * TABLE_PAGE
        return cls(
            columns=columns,
            rows=kept[start : start + TABLE_PAGE],
            total=len(rows),
            matching=len(kept),
            page=page,
            pages=pages,
            sort=sort if sort in columns else None,
            desc=desc,
            q=q,
        )


def is_image_cell(cell: Any) -> bool:
    return isinstance(cell, dict) and "$image" in cell


def _matches(row: list[Any], q: str) -> bool:
    needle = q.lower()
    return any(
        needle in (c["$image"].get("caption", "") if is_image_cell(c) else str(c)).lower()
        for c in row
        if c is not None
    )


def _sort_key(cell: Any) -> tuple[int, Any]:
    if cell is None:
        return (0, 0)
    if isinstance(cell, bool):
        return (1, int(cell))
    if isinstance(cell, int | float):
        return (3, 0) if isinstance(cell, float) and math.isnan(cell) else (1, cell)
    if is_image_cell(cell):
        return (2, cell["$image"].get("caption", ""))
    return (2, str(cell))


@cache
def mask_palette() -> NDArray[Any]:
    """256 RGBA colours for class ids: 0 clear, the rest distinct hues, half opaque."""
    import colorsys

    import numpy as np

    colours = np.zeros((256, 4), dtype=np.uint8)
    for i in range(1, 256):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 0.95)
        colours[i] = (int(r * 255), int(g * 255), int(b * 255), 140)
    return colours
