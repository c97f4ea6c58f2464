"""UI pages for evaluations: a project's list and one evaluation's report, its comparison
with the baseline and the items that flipped. Every page checks the viewer role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.errors import NotFound
from assay.server.deps import require, state_of
from assay.server.ui import eval_views as ev
from assay.server.ui.routes import Viewer, render, templates

router = APIRouter(include_in_schema=False)
templates.env.globals.update(percent=ev.percent)


@router.get("/projects/{project}/evaluations", response_class=HTMLResponse)
def evaluations_page(
    request: Request,
    project: str,
    who: Viewer,
    version: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """A project's evaluations; ``version`` keeps those of one model or dataset version."""
    state = state_of(request)
    require(state, who, project, "viewer")
    if version:
        found = ev.of_version(state.store, version, project)
    else:
        found = state.store.evaluations.list(project, limit=500)
    return render(
        request, "evaluations.html", project=project, evaluations=found, version=version, who=who
    )


@router.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
def evaluation_page(
    request: Request,
    evaluation_id: str,
    who: Viewer,
    scorer: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    state = state_of(request)
    found = state.store.evaluations.get(evaluation_id)
    require(state, who, found.project, "viewer")
    baseline = None
    broke: list[ev.Flip] = []
    fixed: list[ev.Flip] = []
    total = 0
    choices: list[str] = []
    if found.baseline_id is not None:
        baseline = state.store.evaluations.get(found.baseline_id)
        require(state, who, baseline.project, "viewer")
        items = state.store.evaluations.items(found.id)
        choices = ev.pass_fail_scorers(items)
        if scorer is not None and scorer not in choices:
            raise NotFound(f"evaluation {found.id} has no pass/fail scorer {scorer!r}")
        if choices:
            chosen = scorer or choices[0]
            base_items = state.store.evaluations.items(baseline.id)
            broke, fixed, total = ev.flips(items, base_items, chosen)
            scorer = chosen
    versions = {
        v.id: v
        for v in state.store.artifacts.versions_by_id(
            [i for i in (found.model_version_id, found.dataset_version_id) if i]
        )
    }
    return render(
        request,
        "evaluation.html",
        e=found,
        r=ev.shown_report(found.report),
        baseline=baseline,
        model_version=versions.get(found.model_version_id or ""),
        dataset_version=versions.get(found.dataset_version_id or ""),
        broke=broke,
        fixed=fixed,
        flip_total=total,
        scorer=scorer,
        choices=choices,
        who=who,
    )
