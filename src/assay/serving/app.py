"""The model server as an ASGI app: ``create_app(config)``; ``app_from_env()`` for workers.

Starlette routes with no validation layer on the request path: each protocol decodes its
body with msgspec, checks it against the model's signature and hands the rows to the
model's batcher. At start-up (the lifespan) every model is loaded and warmed up, with the
arms its traffic policy names, before the worker answers anything; then a watcher thread
polls the store for alias moves and policy changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from assay.serving import docs, mlflow_protocol, oip
from assay.serving.announce import Announcer, served_models
from assay.serving.batching import Batcher
from assay.serving.config import ServeConfig
from assay.serving.follow import Follower, Plan
from assay.serving.metrics import Metrics, exposition, report
from assay.serving.requestlog import ServedLog
from assay.serving.shadow import Mirror
from assay.serving.state import Served, ServingState, load_all, make_watcher
from assay.store.base import open_store, resolve_uri

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
        for each in served.values():
            each.follows = config.traffic and each.slot.target.registered
            each.follows = each.follows and each.slot.target.moves
            each.batcher.start()
        state = ServingState(config, served, primary, metrics, mirror=Mirror(metrics))
        if config.log_sample > 0:
            state.requests = ServedLog(resolve_uri(config.uri), config.log_sample)
        await _follow(config, served, metrics, state)
        if freeze:
            gc.freeze()
        state.ready = True
        app.state.serving = state
        announcer = _announcer(config, served)
        reporter = asyncio.get_running_loop().create_task(_report(config, metrics))
        try:
            yield
        finally:
            state.ready = False
            if announcer is not None:
                await asyncio.to_thread(announcer.stop)
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            await _stop(state)
            for line in report(metrics.tally):
                log.info("served in all: %s", line)

    return Starlette(routes=routes(), lifespan=lifespan)


def _announcer(config: ServeConfig, served: dict[str, Served]) -> Announcer | None:
    """Announce this worker to the store (where it answers, what it serves) until it stops."""
    if config.url is None or config.announce_interval <= 0:
        return None
    announcer = Announcer(
        config.uri, config.url, config.announce_interval, lambda: served_models(served)
    )
    announcer.start()
    return announcer


async def _follow(
    config: ServeConfig, served: dict[str, Served], metrics: Metrics, state: ServingState
) -> None:
    """Apply each followed model's policy now, then start the watcher (alias moves and
    policy changes)."""
    slots = [s.slot for s in served.values()]
    follower = None
    hooks = []
    if any(s.follows for s in served.values()):
        watched = [s for s in slots if s.target.moves]
        follower = Follower(config=config, served=served, metrics=metrics, watched=watched)
        for plan in await asyncio.to_thread(_first_plans, follower, config):
            follower.apply(plan)
        hooks.append(follower.hook(asyncio.get_running_loop()))
        slots = watched
    state.watcher = make_watcher(config, slots, metrics, hooks)
    if state.watcher is not None:
        if follower is not None:
            state.watcher.slots = follower.watched  # one list: arms join and leave it
        state.watcher.start()


def _first_plans(follower: Follower, config: ServeConfig) -> list[Plan]:
    store = open_store(config.uri)
    try:
        return follower.plans(store)
    finally:
        store.close()


async def _report(config: ServeConfig, metrics: Metrics) -> None:
    """Per-arm counts in the log every ``report_interval`` seconds, when there were any."""
    if config.report_interval <= 0:
        return
    last: dict[tuple[str, str, str, str], list[int]] = {}
    while True:
        await asyncio.sleep(config.report_interval)
        now = {k: list(v) for k, v in metrics.tally.items()}
        since = {
            k: [n - last.get(k, [0, 0])[0], f - last.get(k, [0, 0])[1]]
            for k, (n, f) in now.items()
            if n != last.get(k, [0, 0])[0]
        }
        last = now
        for line in report(since):
            log.info("served in the last %g s: %s", config.report_interval, line)


async def _stop(state: ServingState) -> None:
    if state.watcher is not None:
        state.watcher.stop()
    if state.mirror is not None:
        await state.mirror.stop()
    for each in state.models.values():
        for arm in each.arms.values():
            if arm.batcher is not each.batcher:
                await arm.batcher.stop()
        await each.batcher.stop()
    if state.requests is not None:  # answered requests are in the log: flush it
        await asyncio.to_thread(state.requests.close)


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
