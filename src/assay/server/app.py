"""The ASGI app: ``create_app(config)``; ``app_from_env()`` for uvicorn workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from assay._version import __version__
from assay.errors import StoreUnavailable, StoreUnusable
from assay.redact import redact_text
from assay.server import errors, heap
from assay.server.api import (
    alerts,
    artifacts,
    blobs,
    common,
    evaluations,
    labels,
    media,
    models,
    prompts,
    requests,
    runs,
    sweeps,
    traces,
)
from assay.server.config import ServerConfig
from assay.server.deps import AppState, principal, state_of
from assay.server.guard import Guard
from assay.server.mlflow import mount as mount_mlflow
from assay.server.scheduler import MonitorScheduler
from assay.server.ui import (
    assets,
    catalog_routes,
    eval_routes,
    label_routes,
    media_routes,
    monitor_routes,
    prompt_routes,
    sweep_routes,
    trace_routes,
)
from assay.server.ui import routes as ui_routes
from assay.store.base import open_sql_store
from assay.store.blobs import LocalBlobStore
from assay.store.sql.access import SqlAccess
from assay.store.sql.auth import Principal, SqlAuth


def open_state(config: ServerConfig) -> AppState:
    store = open_sql_store(config.uri, blobs=config.blobs)
    if isinstance(store.blobs.storage, LocalBlobStore):
        removed = store.blobs.storage.remove_stale_temps()
        if removed:
            errors.log.info("removed %d temp files of blob writes that never finished", removed)
    return AppState(config, store, SqlAuth(store.engine), SqlAccess(store.engine))


def create_app(config: ServerConfig, state: AppState | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        interval = app.state.assay.config.monitor_interval
        scheduler = MonitorScheduler(app.state.assay.store, interval) if interval > 0 else None
        if scheduler is not None:
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.stop()
        app.state.assay.close()

    app = FastAPI(
        title="Assay",
        version=__version__,
        openapi_url=None,  # served below, behind authentication like every route but health
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.assay = state or open_state(config)
    errors.install(app, page=ui_routes.error_page)
    app.add_middleware(Guard, config=app.state.assay.config)
    for facet in (
        common,
        runs,
        blobs,
        artifacts,
        models,
        evaluations,
        media,
        requests,
        labels,
        sweeps,
        traces,
        prompts,
        alerts,
    ):
        app.include_router(facet.router)
    mount_mlflow(app)  # MLflow's tracking REST API (docs/mlflow.md)
    app.include_router(assets.router)
    app.include_router(ui_routes.router)
    app.include_router(catalog_routes.router)
    app.include_router(eval_routes.router)
    app.include_router(monitor_routes.router)
    app.include_router(label_routes.router)
    app.include_router(media_routes.router)
    app.include_router(sweep_routes.router)
    app.include_router(prompt_routes.router)
    app.include_router(trace_routes.router)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi_spec(who: Annotated[Principal, Depends(key_or_session)]) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_docs(who: Annotated[Principal, Depends(key_or_session)]) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="Assay API")

    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the database and the blob store answer")
    def readyz(request: Request) -> JSONResponse:
        problem = not_ready(state_of(request))
        if problem is not None:
            return errors.error_response(503, "not_ready", problem)
        return JSONResponse({"status": "ready"})

    return app


def key_or_session(request: Request) -> Principal:
    """The caller by API key, or by the UI's sign-in cookie (a browser reading the docs)."""
    from assay.server.ui.session import KEY_COOKIE

    key = request.cookies.get(KEY_COOKIE)
    if state_of(request).config.local or request.headers.get("authorization") or not key:
        return principal(request)
    return state_of(request).auth.verify(key)


def not_ready(state: AppState) -> str | None:
    """Why the server cannot serve, in words fit for anyone (``/readyz`` is public): no
    URI, host or password; the details go to the log, with secrets hidden."""
    try:
        state.store.runs.count("-")
    except Exception as exc:
        errors.log.warning("not ready: the database: %s", redact_text(str(exc)))
        return "the database does not answer"
    try:
        state.store.blobs.storage.check()
    except (StoreUnavailable, StoreUnusable) as exc:
        errors.log.warning("not ready: the blob store: %s", exc)
        if isinstance(exc, StoreUnusable):  # a short reason of our own: bucket, folder
            return f"the blob store cannot be used: {exc}"
        return "the blob store does not answer"
    return None


def app_from_env() -> FastAPI:
    """The app of a server process (``assay server``, ``assay ui``): its heap settled
    once built (assay.server.heap)."""
    app = create_app(ServerConfig.from_env())
    heap.settle()
    return app
