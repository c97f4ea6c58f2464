"""UI pages for prompts (docs/llm.md): a project's prompts with their labels and splits,
and one prompt's page (versions, labels, the history of their moves, and how the arms
of each split compare on the traces that recorded them). Every page checks the viewer
role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from assay.errors import InvalidInput
from assay.prompting.compare import ABReport
from assay.sdk.prompts import compare_in, listing, stored_versions
from assay.server.deps import require, state_of
from assay.server.ui.routes import Viewer, render

router = APIRouter(include_in_schema=False)
COMPARED_TRACES = 1_000  # the newest traces a page reads to compare a split's arms


def split_text(split: dict[str, float]) -> str:
    if len(split) == 1:
        return f"v{next(iter(split))}"
    return ", ".join(f"v{v} {w:g}%" for v, w in split.items())


@router.get("/projects/{project}/prompts", response_class=HTMLResponse)
def prompts_page(request: Request, project: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    found = listing(state.store, project)
    return render(
        request, "prompts.html", project=project, prompts=found, split_text=split_text, who=who
    )


@router.get("/projects/{project}/prompts/{name}", response_class=HTMLResponse)
def prompt_page(request: Request, project: str, name: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    store = state.store
    versions = stored_versions(store, project, name)
    labels = store.prompts.labels(project, name)
    reports: dict[str, ABReport | str] = {}
    for label in labels:
        if len(label.split) < 2:
            continue
        try:
            ref = f"{project}/{name}@{label.label}"
            reports[label.label] = compare_in(store, ref, limit=COMPARED_TRACES)
        except InvalidInput as exc:
            reports[label.label] = str(exc)
    return render(
        request,
        "prompt.html",
        project=project,
        prompt=name,
        versions=versions,
        labels=labels,
        history=store.prompts.history(project, name),
        reports=reports,
        split_text=split_text,
        compared=COMPARED_TRACES,
        who=who,
    )
