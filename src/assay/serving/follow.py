"""Following traffic policies: at every poll of the watcher (the same poll as alias
moves), each followed model's policy is read from the registry; when it changed, the arms
it names that are not loaded yet are loaded and warmed here, off the request path, and
the new routing is handed to the event loop, which starts their batchers and swaps the
routing in one assignment. Arms the policy no longer names are retired once their queue
is empty. A policy whose arms cannot be loaded leaves the previous routing in place and
says why (the log, ``GET /v2/models/{name}``); it is tried again when it changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from assay.records import TrafficPolicy
from assay.serving import loader
from assay.serving.batching import Batcher
from assay.serving.config import ServeConfig
from assay.serving.loader import Slot, Target
from assay.serving.metrics import Metrics
from assay.serving.state import Served
from assay.serving.traffic import Arm, routing, single
from assay.store.base import Store

log = logging.getLogger("assay.serving")
RETIRE_AFTER_S = 300.0  # an arm still busy this long after leaving the policy is stopped


@dataclass(kw_only=True)
class Plan:
    """A policy to apply, with the slots of the arms it needs that were not loaded."""

    served: Served
    policy: TrafficPolicy | None
    fresh: dict[str, Slot] = field(default_factory=dict)


@dataclass(kw_only=True)
class Follower:
    config: ServeConfig
    served: dict[str, Served]
    metrics: Metrics
    watched: list[Slot]  # the watcher's slots: alias arms join it, retired ones leave
    seen: dict[str, TrafficPolicy | None] = field(default_factory=dict)

    def plans(self, store: Store) -> list[Plan]:
        """What changed since the last poll, with the new arms loaded."""
        found = []
        for name, served in self.served.items():
            if not served.follows:
                continue
            policy = store.models.traffic(name)
            if name in self.seen and policy == self.seen[name]:
                continue
            self.seen[name] = policy
            try:
                found.append(
                    Plan(served=served, policy=policy, fresh=self._load(store, served, policy))
                )
            except Exception as exc:  # keep the routing that works; say why
                served.traffic_error = f"the traffic policy set at {_when(policy)} failed: {exc}"
                log.error("%s: %s; the previous routing stays", name, served.traffic_error)
                self.metrics.load_failed(name)
        return found

    def _load(self, store: Store, served: Served, policy: TrafficPolicy | None) -> dict[str, Slot]:
        fresh: dict[str, Slot] = {}
        if policy is None:
            return fresh
        name = served.slot.target.name
        for arm in (*policy.split, *policy.shadow):
            if arm in tuple(served.arms):
                continue
            uri = f"models:/{name}/{arm}" if arm.isdigit() else f"models:/{name}@{arm}"
            target = Target(uri, name, arm, True)
            version, _ = loader.current_version(store, target, None)
            loaded = tuple(served.arms.values())  # the loop may change the dict meanwhile
            same = next((a for a in loaded if a.current.version == version), None)
            if same is not None:  # that version is loaded already: share it
                fresh[arm] = Slot(target, same.current)
            else:
                log.info("%s: loading arm %s (version %s)", name, arm, version)
                model = loader.load(store, target, self.config.project, self.config.allow_pickle)
                fresh[arm] = Slot(target, model)
        return fresh

    def apply(self, plan: Plan) -> None:
        """On the event loop: start the new arms' batchers, swap the routing, retire the
        arms no longer named."""
        served, policy = plan.served, plan.policy
        name = served.slot.target.name
        named = set() if policy is None else {*policy.split, *policy.shadow}
        if named - served.arms.keys() - plan.fresh.keys():  # retired since it was planned
            self.seen.pop(name, None)  # plan it again at the next poll
            return
        for arm, slot in plan.fresh.items():
            if arm in served.arms:  # loaded by a plan applied meanwhile
                continue
            batcher = Batcher(slot, self.config.limits, self.metrics)
            batcher.start()
            served.arms[arm] = Arm(name=arm, slot=slot, batcher=batcher)
            if slot.target.moves:
                self.watched.append(slot)
        if policy is None:
            served.routing = single(name, served.default)
        else:
            served.routing = routing(name, policy, served.arms)
        served.traffic_error = None
        for gone in [a for a in served.arms.values() if a.name not in named]:
            if gone is not served.default:
                self._retire(served, gone)
        self.metrics.policy_changed(name)
        log.info("%s: traffic %s", name, describe(policy, served))

    def _retire(self, served: Served, arm: Arm) -> None:
        del served.arms[arm.name]
        if arm.slot in self.watched:
            self.watched.remove(arm.slot)

        async def retire() -> None:
            for _ in range(int(RETIRE_AFTER_S / 0.05)):
                if arm.batcher.idle:
                    break
                await asyncio.sleep(0.05)
            await arm.batcher.stop()

        task = asyncio.get_running_loop().create_task(retire())
        _RETIRING.add(task)
        task.add_done_callback(_RETIRING.discard)

    def hook(self, loop: asyncio.AbstractEventLoop) -> Callable[[Store], None]:
        """The watcher's hook: plans made in its thread, applied on ``loop``."""

        def poll(store: Store) -> None:
            for plan in self.plans(store):
                loop.call_soon_threadsafe(self.apply, plan)

        return poll


_RETIRING: set[asyncio.Task[None]] = set()


def describe(policy: TrafficPolicy | None, served: Served) -> str:
    """``production v1 90%, candidate v2 10%; sticky header:x-user-id; shadow v3 20%``."""
    if policy is None:
        arm = served.default
        return f"all to {arm.name} (version {arm.current.version}): no policy"
    arms = served.arms
    text = ", ".join(f"{a} v{arms[a].current.version} {w:g}%" for a, w in policy.split.items())
    if policy.sticky:
        text += f"; sticky {policy.sticky}"
    if policy.shadow:
        shown = ", ".join(
            f"{a} v{arms[a].current.version} {w:g}%" for a, w in policy.shadow.items()
        )
        text += f"; shadow {shown}"
    return text


def _when(policy: TrafficPolicy | None) -> str:
    import datetime as dt

    if policy is None:
        return "its clearing"
    return dt.datetime.fromtimestamp(policy.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
