"""The model server as an ASGI app: ``create_app(config)``; ``app_from_env()`` for workers.

Starlette routes with no validation layer on the request path: each protocol decodes its
body with msgspec, checks it against the model's signature and hands the rows to the
model's batcher. At start-up (the lifespan) every model is loaded and warmed up before
the worker answers anything; then a watcher thread polls the store for alias moves.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from assay.serving import docs, mlflow_protocol, oip
from assay.serving.batching import Batcher
from assay.serving.config import ServeConfig
from assay.serving.metrics import Metrics, exposition
from assay.serving.requestlog import ServedLog
from assay.serving.state import Served, ServingState, load_all, make_watcher
from assay.store.base import resolve_uri

log = logging.getLogger("assay.serving")


def create_app(config: ServeConfig, freeze: bool = False) -> Starlette:
    """``freeze``: after loading, keep what exists out of garbage collection scans (for a
    worker process, whose models live as long as it does)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        slots, primary = await asyncio.to_thread(load_all, config)
        served = {
            name: Served(slot, Batcher(slot, config.limits, metrics))
            for name, slot in slots.items()
        }
        state = ServingState(config, served, primary, metrics)
        if config.log_sample > 0:
            state.requests = ServedLog(resolve_uri(config.uri), config.log_sample)
        for each in served.values():
            each.batcher.start()
        state.watcher = make_watcher(config, list(slots.values()), metrics)
        if state.watcher is not None:
            state.watcher.start()
        if freeze:
            gc.freeze()
        state.ready = True
        app.state.serving = state
        try:
            yield
        finally:
            state.ready = False
            if state.watcher is not None:
                state.watcher.stop()
            for each in served.values():
                await each.batcher.stop()
            if state.requests is not None:  # answered requests are in the log: flush it
                await asyncio.to_thread(state.requests.close)

    return Starlette(routes=routes(), lifespan=lifespan)


async def metrics_route(request: Request) -> Response:
    body, kind = exposition()
    return Response(body, media_type=kind)


def routes() -> list[Route]:
    return [  # the scoring routes first: routes are tried in order
        *mlflow_protocol.routes(),
        *oip.routes(),
        *docs.routes(),
        Route("/metrics", metrics_route),
    ]


def app_from_env() -> Starlette:
    """For uvicorn workers: the configuration comes in ``ASSAY_SERVE_CONFIG``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    return create_app(ServeConfig.from_env(), freeze=True)
