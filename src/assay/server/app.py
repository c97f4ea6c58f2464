"""The ASGI app: ``create_app(config)``; ``app_from_env()`` for uvicorn workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from assay._version import __version__
from assay.server import artifacts, errors, evaluations, ingest, reads
from assay.server.config import ServerConfig
from assay.server.deps import AppState, state_of
from assay.server.guard import Guard
from assay.server.ui import assets, catalog_routes, eval_routes
from assay.server.ui import routes as ui_routes
from assay.store.sql.auth import SqlAuth
from assay.store.sql.store import SqlStore


def open_state(config: ServerConfig) -> AppState:
    if "://" in config.uri and not config.uri.startswith("file://"):
        store = SqlStore.from_url(config.uri, blobs=config.blobs)
    else:
        from assay.store.base import local_root

        root = local_root(config.uri)
        assert root is not None
        store = SqlStore.embedded(root)
    return AppState(config, store, SqlAuth(store.engine))


def create_app(config: ServerConfig, state: AppState | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.assay.close()

    app = FastAPI(
        title="Assay",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.assay = state or open_state(config)
    errors.install(app)
    app.add_middleware(Guard, config=app.state.assay.config)
    app.include_router(ingest.router)
    app.include_router(reads.router)
    app.include_router(artifacts.router)
    app.include_router(evaluations.router)
    app.include_router(assets.router)
    app.include_router(ui_routes.router)
    app.include_router(catalog_routes.router)
    app.include_router(eval_routes.router)

    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the database answers")
    def readyz(request: Request) -> JSONResponse:
        try:
            state_of(request).store.count_runs("-")
        except Exception as exc:
            return errors.error_response(503, "not_ready", f"store not ready: {exc}")
        return JSONResponse({"status": "ready"})

    return app


def app_from_env() -> FastAPI:
    return create_app(ServerConfig.from_env())
