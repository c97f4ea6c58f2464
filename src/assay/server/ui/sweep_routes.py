"""UI pages for sweeps: a project's list and one sweep's page (parallel coordinates,
parameter importance, best trials). Every page checks the viewer role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from assay.server.deps import require, state_of
from assay.server.ui.routes import Viewer, render
from assay.server.ui.sweep_views import SweepPage

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project}/sweeps", response_class=HTMLResponse)
def sweeps_page(request: Request, project: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    found = state.store.sweeps.list(project)
    counts = {s.id: len(state.store.sweeps.trials(s.id)) for s in found}
    return render(request, "sweeps.html", project=project, sweeps=found, counts=counts, who=who)


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(request: Request, sweep_id: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    found = state.store.sweeps.get(sweep_id)
    require(state, who, found.project, "viewer")
    page = SweepPage.build(found, state.store.sweeps.trials(sweep_id))
    return render(request, "sweep.html", page=page, who=who)
