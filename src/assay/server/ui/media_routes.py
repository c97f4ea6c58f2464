"""UI for rich values: a run's media panels (one per key, a step slider each), a value
at a step, a table viewer (filter, sort, page; images in cells), histograms over steps
as a heat map, the same key side by side across compared runs, and the blobs
themselves (stored HTML under a policy that runs nothing). Every route checks the
viewer role on the run's project."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from assay.errors import InvalidInput, NotFound
from assay.media import pixels
from assay.records import MediaRecord
from assay.server.access import require_blob
from assay.server.deps import AppState, require_run, state_of
from assay.server.ui import media_views as mv
from assay.server.ui.routes import Viewer, render, templates
from assay.server.ui.views import MAX_COMPARE
from assay.store.blobs import blob_name
from assay.store.facets.media import MAX_MEDIA_PAGE

router = APIRouter(include_in_schema=False)
templates.env.globals.update(
    box_style=mv.box_style,
    box_text=mv.box_text,
    hist_bars=mv.bars,
    is_image_cell=mv.is_image_cell,
    served_as=mv.served_as,
    content_type=mv.CONTENT_TYPES.get,
)
Key = Annotated[str, Query(min_length=1, max_length=256)]


@router.get("/ui/runs/{run_id}/media", response_class=HTMLResponse)
def media_panels(request: Request, run_id: str, who: Viewer) -> HTMLResponse:
    """The run's media keys, each a panel that loads its last value."""
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    keys = state.store.media.keys(run_id)
    return render(request, "media_panels.html", run_id=run_id, keys=keys, who=who)


@router.get("/ui/runs/{run_id}/media/panel", response_class=HTMLResponse)
def media_panel(
    request: Request,
    run_id: str,
    who: Viewer,
    *,
    key: Key,
    index: Annotated[int, Query(ge=-1, le=MAX_MEDIA_PAGE)] = -1,
) -> HTMLResponse:
    """The value at the ``index``-th logged step of ``key`` (-1: the last), and for a
    histogram the heat map of every step."""
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    records = state.store.media.list(run_id, key)
    if not records:
        raise NotFound(f"run {run_id} has no media under {key!r}")
    chosen = records[index if 0 <= index < len(records) else -1]
    heat = mv.Heatmap.build(records) if chosen.kind == "histogram" else None
    return render(
        request, "media_value.html", run_id=run_id, record=chosen, heat=heat, table=None, who=who
    )


@router.get("/ui/runs/{run_id}/media/table", response_class=HTMLResponse)
def media_table(
    request: Request,
    run_id: str,
    who: Viewer,
    *,
    key: Key,
    step: Annotated[int, Query(ge=0)],
    sort: Annotated[str | None, Query(max_length=256)] = None,
    desc: bool = False,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    record = _one(state, run_id, key, step)
    if record.kind != "table":
        raise InvalidInput(f"{key!r} at step {step} is a {record.kind}, not a table")
    decoded = msgspec.msgpack.decode(state.store.blobs.get(record.body["digest"]))
    table = mv.TablePage.build(
        list(decoded["columns"]), decoded["rows"], sort=sort, desc=desc, q=q, page=page
    )
    return render(request, "media_table.html", run_id=run_id, record=record, table=table, who=who)


@router.get("/ui/compare/media", response_class=HTMLResponse)
def compare_media(
    request: Request,
    who: Viewer,
    *,
    runs: Annotated[str, Query(max_length=2000)],
    key: Annotated[str | None, Query(max_length=256)] = None,
    step: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """One key side by side across runs, at a step (each run's last value at or before
    it); the key picker lists the keys the runs have."""
    state = state_of(request)
    ids = [r for r in runs.split(",") if r][:MAX_COMPARE]
    for run_id in ids:
        require_run(state, who, run_id, "viewer")
    names = {r: state.store.runs.get(r).name for r in ids}
    keys: dict[str, str] = {}  # key -> kind
    for run_id in ids:
        for info in state.store.media.keys(run_id):
            keys.setdefault(info.key, info.kind)
    images = sorted(k for k, kind in keys.items() if kind == "image")
    chosen = key if key in keys else next(iter(images or sorted(keys)), None)
    columns: list[tuple[str, MediaRecord | None]] = []
    steps: list[int] = []
    if chosen is not None:
        found = {r: state.store.media.list(r, chosen) for r in ids}
        steps = sorted({rec.step for recs in found.values() for rec in recs})
        at = step if step is not None else (steps[-1] if steps else 0)
        columns = [(r, _at_or_before(found[r], at)) for r in ids]
    return render(
        request,
        "media_compare.html",
        runs=",".join(ids),
        names=names,
        keys=sorted(keys),
        key=chosen,
        steps=steps,
        step=step if step is not None else (steps[-1] if steps else None),
        columns=columns,
        who=who,
    )


@router.get("/ui/media/blob/{digest}")
def media_blob(
    request: Request,
    digest: str,
    who: Viewer,
    format: Annotated[str, Query(max_length=16)] = "png",
) -> Response:
    """A blob a run the viewer reads holds, served as what its value's format says
    (only the listed types: anything else is plain bytes the browser will not run; HTML
    with a policy that lets it run nothing and sandboxes it even opened on its own)."""
    state = state_of(request)
    blob_name(digest)
    require_blob(state, who, digest)
    data = state.store.blobs.get(digest)
    if format == "mask":
        data, format = _coloured(data), "png"
    kind = mv.CONTENT_TYPES.get(format, "application/octet-stream")
    headers = {
        "cache-control": "private, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "content-security-policy": mv.policy_of(format),
        "referrer-policy": "no-referrer",
    }
    return Response(data, media_type=kind, headers=headers)


def _coloured(data: bytes) -> bytes:
    """A mask's class ids (0-255) as a translucent colour image to lay over its picture
    (class 0, the background, stays clear)."""
    ids = pixels.to_array(data, "the mask")
    if ids.ndim == 3:
        ids = ids[..., 0]
    return pixels.to_png(mv.mask_palette()[ids])


def _one(state: AppState, run_id: str, key: str, step: int) -> MediaRecord:
    found = state.store.media.list(run_id, key, start=step, end=step)
    if not found:
        raise NotFound(f"run {run_id} has no {key!r} at step {step}")
    return found[0]


def _at_or_before(records: list[MediaRecord], step: int) -> MediaRecord | None:
    best: MediaRecord | None = None
    for record in records:
        if record.step <= step:
            best = record
    return best
