"""What a worker serves: each model's slot (the version answering now) and batcher."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from starlette.requests import Request

from assay.errors import NotFound
from assay.serving import loader
from assay.serving.batching import Batcher
from assay.serving.config import ServeConfig
from assay.serving.loader import LoadedModel, Slot, Watcher
from assay.serving.metrics import Metrics
from assay.serving.requestlog import ServedLog
from assay.store.base import open_store

log = logging.getLogger("assay.serving")


@dataclass
class Served:
    slot: Slot
    batcher: Batcher

    @property
    def current(self) -> LoadedModel:
        return self.slot.current


@dataclass
class ServingState:
    config: ServeConfig
    models: dict[str, Served]
    primary: str
    metrics: Metrics
    watcher: Watcher | None = None
    ready: bool = field(default=False)
    requests: ServedLog | None = None  # the request log (None: --log-sample 0)

    def find(self, name: str, version: str | None = None) -> Served:
        """The served model ``name`` (at ``version`` if given), else NotFound."""
        served = self.models.get(name)
        if served is None:
            known = ", ".join(sorted(self.models))
            raise NotFound(f"model {name!r} is not served here (serving: {known})")
        if version is not None and version != served.current.version:
            raise NotFound(
                f"version {version} of model {name!r} is not served here "
                f"(version {served.current.version} is)"
            )
        return served


def load_all(config: ServeConfig) -> tuple[dict[str, Slot], str]:
    """Every model named, loaded and warmed up (any failure stops the server)."""
    store = open_store(config.uri)
    slots: dict[str, Slot] = {}
    try:
        for uri in config.models:
            chosen = loader.target(uri)
            model = loader.load(store, chosen, config.project, config.allow_pickle)
            log.info("%s: serving %s (%s)", chosen.name, model.uri, model.flavour)
            slots[chosen.name] = Slot(chosen, model)
    finally:
        store.close()
    return slots, next(iter(slots))


def make_watcher(config: ServeConfig, slots: list[Slot], metrics: Metrics) -> Watcher | None:
    moving = [s for s in slots if s.target.moves]
    if not moving or config.poll_interval <= 0:
        return None
    return Watcher(
        uri=config.uri,
        slots=moving,
        project=config.project,
        allow_pickle=config.allow_pickle,
        interval=config.poll_interval,
        on_swap=lambda slot, old, new: metrics.swapped(slot.target.name),
        on_failure=lambda slot: metrics.load_failed(slot.target.name),
    )


def state_of(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state
