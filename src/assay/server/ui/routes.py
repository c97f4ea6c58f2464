"""UI pages and fragments. Handlers parse the request, check roles, and hand records to
templates; what to show is decided in ``assay.present`` and ``views``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import msgspec
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from assay.errors import AssayError, FilterSyntaxError, InvalidInput, NotFound, Unauthorized
from assay.ids import new_writer_id
from assay.records import Batch, UpdateRun
from assay.server.access import visible_blobs, visible_edges
from assay.server.api.runs import STEP_MAX, STEP_MIN
from assay.server.body import read_body
from assay.server.deps import AppState, require, require_run, state_of
from assay.server.errors import wants_html
from assay.server.ui import assets, bulk, display, views
from assay.server.ui.session import (
    KEY_COOKIE,
    LoginRequired,
    check_csrf,
    csrf_token,
    remember_csrf,
    set_key_cookie,
    viewer,
)
from assay.store.sql.auth import Principal, role_at_least
from assay.store.sql.runs_groups import groupable

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals.update(
    asset=assets.asset,
    fmt=display.fmt,
    when=display.when,
    fmt_duration=display.fmt_duration,
    HTMX=assets.HTMX,
    UPLOT_JS=assets.UPLOT_JS,
    UPLOT_CSS=assets.UPLOT_CSS,
    plot_library=assets.plot_library,
)
Viewer = Annotated[Principal, Depends(viewer)]
PAGE_SIZE = 50
# a filter that keeps more runs than this is counted apart (/ui/projects/{p}/count): the
# table says "more than" at once and the exact count follows
COUNT_AT_ONCE = 500


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = state_of(request)
    context.update(request=request, csrf=csrf_token(request), local=state.config.local)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    remember_csrf(request, response)
    return response


def error_page(request: Request, exc: AssayError, status: int, message: str) -> Response | None:
    """How the UI answers an error: a sign-in redirect for a page that needs one, an error
    page for a browser asking for a page, else None (the API's JSON answer)."""
    if isinstance(exc, LoginRequired):
        return RedirectResponse(f"/login?{urlencode({'next': exc.next_url})}", status_code=303)
    if wants_html(request):
        return render(request, "error.html", status, code=status, message=message)
    return None


# ---- sign in --------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_model=None)
def login(
    request: Request,
    key: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    check_csrf(request, csrf)
    try:
        state_of(request).auth.verify(key.strip())
    except Unauthorized as exc:
        return render(request, "login.html", 401, next=_safe_next(next), error=str(exc))
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_key_cookie(request, response, key.strip())
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(KEY_COOKIE)
    return response


def _safe_next(target: str) -> str:
    """Only paths on this site: never redirect a signed-in user elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# ---- pages ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def projects_page(request: Request, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    found = state.store.runs.projects()
    if not who.is_admin:
        allowed = state.auth.grants_of(who.user)
        found = [p for p in found if role_at_least(allowed.get(p.name), "viewer")]
    return render(request, "projects.html", projects=found, who=who)


@router.get("/projects/{project}", response_class=HTMLResponse)
def runs_page(request: Request, project: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    table = _table(state, project, request)
    return render(
        request,
        "runs.html",
        project=project,
        t=table,
        who=who,
        config_keys=state.store.runs.config_keys(project),
        group_fields=views.GROUP_FIELDS,
        can_write=role_at_least(state.auth.role(who, project), "writer"),
    )


@router.get("/ui/projects/{project}/table", response_class=HTMLResponse)
def runs_table(request: Request, project: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    require(state, who, project, "viewer")
    response = render(
        request, "runs_table.html", project=project, t=_table(state, project, request)
    )
    if request.headers.get("hx-trigger") == "runs-controls":  # the filter form: the page's URL
        query = request.url.query
        response.headers["HX-Push-Url"] = f"/projects/{quote(project)}" + (
            f"?{query}" if query else ""
        )
    return response


@router.get("/ui/projects/{project}/count", response_class=HTMLResponse)
def run_count(request: Request, project: str, who: Viewer) -> HTMLResponse:
    """The exact number of runs a filter keeps, asked for by a table that showed
    "more than" (a pass over the project's runs, which the table does not wait for)."""
    state = state_of(request)
    require(state, who, project, "viewer")
    query = views.TableQuery.parse(request.query_params)
    try:
        total = state.store.runs.count(project, query.filter or None, deleted=query.deleted)
    except FilterSyntaxError:
        total = 0
    return render(request, "run_count.html", total=total)


@router.get("/ui/projects/{project}/groups", response_class=HTMLResponse)
def group_statistics(
    request: Request,
    project: str,
    who: Viewer,
    shown: Annotated[str, Query(max_length=2000)] = "",
) -> HTMLResponse:
    """The count and statistics over every run the filter matches of each group a
    grouped table shows (``shown``: their ids), asked for by the table, which does not
    wait for them (a pass over the matching runs): each group's figures go into its
    head (out-of-band swaps)."""
    state = state_of(request)
    require(state, who, project, "viewer")
    query = views.TableQuery.parse(request.query_params)
    ids = [i for i in shown.split(",") if i][: views.MAX_GROUPS_SHOWN]
    wanted, columns = set(ids), list(query.columns)
    try:
        whole = state.store.runs.group_stats(
            project,
            query.filter or None,
            query.group,
            columns,
            deleted=query.deleted,
            keep=lambda value: views.group_id(query, columns, value) in wanted,
        )
    except (FilterSyntaxError, InvalidInput):  # a table that asks for none: nothing to show
        ids, whole = [], []
    answer = views.GroupStatsAnswer.build(query, ids, whole)
    return render(request, "group_stats.html", answer=answer)


@router.get("/ui/projects/{project}/picker", response_class=HTMLResponse)
def column_picker(
    request: Request,
    project: str,
    who: Viewer,
    columns: Annotated[str, Query(max_length=20_000)] = "",
) -> HTMLResponse:
    """The column picker's keys, asked for when it is first opened: every metric key of
    a project is a pass over its summaries, which the runs page should not wait for."""
    state = state_of(request)
    require(state, who, project, "viewer")
    config_keys, summary_keys = state.store.runs.project_keys(project)
    return render(
        request,
        "picker_keys.html",
        config_keys=config_keys,
        summary_keys=views.picker_keys(summary_keys),
        chosen=set(columns.split(",")),
    )


def _table(
    state: AppState, project: str, request: Request, query: views.TableQuery | None = None
) -> views.RunsTable:
    query = query or views.TableQuery.parse(request.query_params)
    error: FilterSyntaxError | None = None
    runs = state.store.runs
    try:
        total, found = runs.page(
            project,
            query.filter or None,
            query.order,
            PAGE_SIZE,
            (query.page - 1) * PAGE_SIZE,
            deleted=query.deleted,
            count_up_to=COUNT_AT_ONCE,
        )
    except FilterSyntaxError as exc:
        error, total, found = exc, 0, []
    columns = views.table_columns(query, found)
    # the groups' counts and statistics over every run the filter matches are asked for
    # apart (/groups); a key the store cannot group on shows the page's runs' figures
    apart = bool(query.group and found) and groupable(query.group)
    return views.RunsTable.build(
        project=project,
        query=query,
        runs=found,
        total=total,
        page_size=PAGE_SIZE,
        counted_up_to=COUNT_AT_ONCE if query.filter else None,
        error=error,
        columns=columns,
        stats_apart=apart,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, who: Viewer) -> HTMLResponse:
    state = state_of(request)
    project = require_run(state, who, run_id, "viewer")
    run = state.store.runs.get(run_id)
    can_write = role_at_least(state.auth.role(who, project), "writer")
    used, produced = _run_artifacts(state, who, run_id)
    return render(
        request,
        "run.html",
        run=run,
        page=views.RunPage.build(run, _diff(state, who, run)),
        can_write=can_write,
        used=used,
        produced=produced,
        who=who,
    )


def _run_artifacts(state: AppState, who: Principal, run_id: str) -> tuple[list[Any], list[Any]]:
    """(used, produced) artifact versions of a run, of projects the viewer reads."""
    edges = visible_edges(state, who, state.store.artifacts.lineage_edges([run_id], []))
    found = {v.id: v for v in state.store.artifacts.versions_by_id([e.version_id for e in edges])}
    used = [found[e.version_id] for e in edges if e.kind == "used" and e.version_id in found]
    made = [found[e.version_id] for e in edges if e.kind == "produced" and e.version_id in found]
    return used, made


def _diff(state: AppState, who: Principal, run: Any) -> str | None:
    """The run's git diff; one offloaded to a blob only if a project the viewer reads
    holds that blob (the run's own does: a diff_blob naming another project's file
    shows nothing)."""
    git = run.host.get("git") or {}
    if git.get("diff"):
        return str(git["diff"])
    digest = git.get("diff_blob")
    if isinstance(digest, str) and digest in visible_blobs(state, who, [digest]):
        try:
            return state.store.blobs.get(digest).decode(errors="replace")
        except AssayError:
            return None
    return None


@router.get("/ui/runs/{run_id}/summary", response_class=HTMLResponse)
def run_summary(
    request: Request,
    run_id: str,
    who: Viewer,
    q: Annotated[str, Query(max_length=300)] = "",
    page: Annotated[int, Query(ge=1, le=views.MAX_PAGE)] = 1,
) -> HTMLResponse:
    """A page of the run's summary rows, those whose keys hold every word of ``q``."""
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    summary = views.SummaryPage.build(state.store.runs.get(run_id), q, page)
    return render(request, "summary_rows.html", summary=summary)


@router.get("/ui/runs/{run_id}/logs", response_class=HTMLResponse)
def run_logs(
    request: Request, run_id: str, who: Viewer, tail: Annotated[int, Query(ge=1, le=5000)] = 500
) -> HTMLResponse:
    state = state_of(request)
    require_run(state, who, run_id, "viewer")
    run = state.store.runs.get(run_id)
    return render(request, "logs.html", run=run, lines=state.store.runs.log_lines(run_id, tail))


@router.post("/ui/runs/{run_id}/notes", response_class=HTMLResponse)
def edit_notes(
    request: Request, run_id: str, who: Viewer, notes: Annotated[str, Form(max_length=100_000)] = ""
) -> HTMLResponse:
    check_csrf(request)
    state = state_of(request)
    require_run(state, who, run_id, "writer")
    op = UpdateRun(at=time.time(), notes=notes)
    state.store.runs.write_batch(
        Batch(run_id=run_id, writer="ui" + new_writer_id()[:14], seq=0, ops=[op]),
        actor=f"user:{who.user}",
    )
    return render(request, "notes.html", run=state.store.runs.get(run_id), can_write=True)


@router.post("/ui/projects/{project}/bulk", response_class=HTMLResponse)
async def bulk_action(request: Request, project: str, who: Viewer) -> HTMLResponse:
    """Delete, restore, move or tag the selected runs of a project; the table again."""
    check_csrf(request)
    state = state_of(request)
    fields = {k: str(v) for k, v in (await request.form()).items()}
    ask = bulk.BulkAction.parse(fields)
    await run_in_threadpool(bulk.apply, state, who, project, ask)
    query = views.TableQuery.parse(fields)
    table = await run_in_threadpool(_table, state, project, request, query)
    return render(request, "runs_table.html", project=project, t=table)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, who: Viewer, runs: Annotated[str, Query(max_length=2000)] = ""
) -> HTMLResponse:
    state = state_of(request)
    ids = [r for r in runs.split(",") if r][: views.MAX_COMPARE]
    if len(ids) < 2:
        raise InvalidInput("compare needs 2 to 50 runs: /compare?runs=ID,ID,...")
    for run_id in ids:
        require_run(state, who, run_id, "viewer")
    found = [state.store.runs.get(r) for r in ids]
    return render(request, "compare.html", page=views.ComparePage.build(found), who=who)


# ---- chart data -----------------------------------------------------------------------


SERIES_KEYS = 200  # keys in one answer; more are paged, and the answer says how many match


@router.get("/ui/api/series")
def series_data(
    request: Request,
    who: Viewer,
    runs: Annotated[str, Query(max_length=4000)],
    *,
    keys: Annotated[str, Query(max_length=8000)] = "",
    points: Annotated[int, Query(ge=4, le=20_000)] = 1500,
    start: Annotated[int | None, Query(ge=STEP_MIN, le=STEP_MAX)] = None,
    end: Annotated[int | None, Query(ge=STEP_MIN, le=STEP_MAX)] = None,
) -> Response:
    """Downsampled series for charts, plus each run's status (to know when to poll). A run
    with more keys than one answer holds gets the first ones, and ``matched`` says how many
    there are (the POST variant pages and searches them)."""
    ask = SeriesAsk(
        runs=[r for r in runs.split(",") if r],
        keys=[k for k in keys.split(",") if k] or None,
        points=points,
        start=start,
        end=end,
    )
    return _series_reply(state_of(request), who, ask)


class SeriesAsk(msgspec.Struct, forbid_unknown_fields=True):
    """What the charts ask for: given keys, or a page of the runs' keys (those of one
    ``kind`` whose names hold ``search``), in a body, so no URL grows with the keys."""

    runs: list[str]
    keys: list[str] | None = None
    search: str = ""
    kind: Literal["all", "user", "system"] = "all"
    offset: int = 0
    limit: int = SERIES_KEYS
    points: int = 1500
    start: int | None = None
    end: int | None = None


@router.post("/ui/api/series")
async def series_page(request: Request, who: Viewer) -> Response:
    """The series route with its question in a JSON body: a page of keys chosen on the
    server by kind and search, or a list of keys too long for a URL."""
    check_csrf(request)
    state = state_of(request)
    body = await read_body(request, 1024 * 1024)
    try:
        ask = msgspec.json.decode(body, type=SeriesAsk)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInput(f"series request does not decode: {exc}") from None
    bad = (
        not 1 <= len(ask.runs) <= 100
        or not 1 <= ask.limit <= SERIES_KEYS
        or not 0 <= ask.offset <= 10_000_000
        or not 4 <= ask.points <= 20_000
        or len(ask.search) > 300
        or any(not STEP_MIN <= s <= STEP_MAX for s in (ask.start, ask.end) if s is not None)
    )
    if bad:
        raise InvalidInput(
            "series: 1..100 runs, limit 1..200, offset >= 0, points 4..20000, "
            "search up to 300 characters, steps 64-bit"
        )
    return await run_in_threadpool(_series_reply, state, who, ask)


def _series_reply(state: AppState, who: Principal, ask: SeriesAsk) -> Response:
    """A constant number of queries however many runs are charted: the runs' heads, their
    keys (unless given), then every series in one batched read."""
    ids = list(dict.fromkeys(ask.runs))[:100]
    heads = state.store.runs.heads(ids)
    for run_id in ids:
        if run_id not in heads:
            raise NotFound(f"no run with id {run_id!r}")
    for project in dict.fromkeys(h.project for h in heads.values()):
        require(state, who, project, "viewer")
    if ask.keys is not None:
        chosen = list(dict.fromkeys(ask.keys))
    else:
        chosen = state.store.runs.metric_keys(ids, ask.kind, ask.search)
    page = chosen[ask.offset : ask.offset + ask.limit]
    data = state.store.runs.series(ids, page, ask.points, ask.start, ask.end) if page else {}
    order = {r: i for i, r in enumerate(ids)}
    payload = {
        "runs": {r: {"name": heads[r].name, "status": heads[r].status} for r in ids},
        "keys": page,
        "matched": len(chosen),
        "offset": ask.offset,
        "series": [
            {
                "run": r,
                "key": k,
                "steps": c.steps.tolist(),
                "times": c.times.tolist(),
                "values": c.values.tolist(),
            }
            for (r, k), c in sorted(data.items(), key=lambda item: order[item[0][0]])
        ],
    }
    return Response(
        msgspec.json.encode(payload),
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def query_string(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "", [])})


templates.env.globals["qs"] = query_string
