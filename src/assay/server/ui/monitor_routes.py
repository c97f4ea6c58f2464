"""The monitoring page of a model: its monitors' traffic, latency, errors, drift heat map,
performance with intervals and alert incidents (docs/monitoring.md). Viewer role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from assay.monitoring.spec import MonitorSpec
from assay.sdk.monitors import monitors
from assay.server.deps import require, state_of
from assay.server.ui.monitor_views import monitor_page
from assay.server.ui.routes import Viewer, render

router = APIRouter(include_in_schema=False)


@router.get("/models/{name}/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request, name: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    model = state.store.models.get(name)
    require(state, who, model.project, "viewer")
    pages = [
        monitor_page(state.store, run, MonitorSpec.from_config(run.config))
        for run in monitors(state.store, model=name, project=model.project)
    ]
    return render(request, "monitoring.html", model=model, pages=pages, who=who)
