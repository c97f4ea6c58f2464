"""Which arm answers a request: a model's traffic policy (kept in the registry) as the
server applies it.

An arm is an alias (``production``) or a version (``"3"``) of the served model, with its
own slot (the version it names now, swapped on alias moves) and its own batcher. A
``Routing`` is one policy made concrete: the arms with their shares, the sticky key, the
shadow arms. It is built whole and swapped in one assignment when the policy changes, so
a request sees one policy from start to end.

A request with a sticky key lands on ``hash(model, key)`` placed on the arms' shares
(BLAKE2b, the same in every worker and every server), so one key keeps one arm while the
policy stays the same; without a key, a random draw. Shadow arms are drawn separately for
each request: each gets a copy of ``share`` percent of the requests.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import numpy as np

from assay.records import TrafficPolicy
from assay.serving.batching import Batcher
from assay.serving.loader import LoadedModel, Slot

_SPAN = float(1 << 64)


@dataclass(eq=False, kw_only=True)
class Arm:
    """One arm of a served model: its name in the policy, its slot and its batcher."""

    name: str  # "production", "candidate", "3"
    slot: Slot
    batcher: Batcher

    @property
    def current(self) -> LoadedModel:
        return self.slot.current


@dataclass(frozen=True, kw_only=True)
class Routing:
    """A policy made concrete over loaded arms (one arm, no shadow, when there is none)."""

    model: str
    arms: tuple[Arm, ...]
    bounds: tuple[float, ...]  # each arm's cumulative share; the last is 100
    sticky: tuple[str, str] | None = None  # ("header", "x-user-id") or ("input", "user_id")
    shadows: tuple[tuple[Arm, float], ...] = ()
    policy: TrafficPolicy | None = None
    draw: random.Random = field(default_factory=random.Random, compare=False)

    def choose(self, key: str | None) -> Arm:
        """The arm of a request: by its key's hash when it has one, else at random."""
        if len(self.arms) == 1:
            return self.arms[0]
        point = place(self.model, key) if key is not None else self.draw.random() * 100
        index = bisect.bisect_right(self.bounds, point)
        return self.arms[min(index, len(self.arms) - 1)]

    def mirrors(self) -> list[Arm]:
        """The shadow arms this request is copied to."""
        return [arm for arm, share in self.shadows if self.draw.random() * 100 < share]

    def key(self, headers: Mapping[str, str], given: Mapping[str, Any]) -> str | None:
        """The request's sticky key: the header, or the first row of the input field."""
        if self.sticky is None:
            return None
        kind, name = self.sticky
        if kind == "header":
            return headers.get(name)
        value = given.get(name)
        if value is None:
            return None
        first = np.asarray(value).ravel()[:1].tolist()
        return None if not first else str(first[0])

    def share(self, arm: Arm) -> float:
        index = self.arms.index(arm)
        return self.bounds[index] - (self.bounds[index - 1] if index else 0.0)


def place(model: str, key: str) -> float:
    """Where a key falls on [0, 100): the same for the same model and key everywhere."""
    digest = hashlib.blake2b(f"{model}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SPAN * 100


def single(model: str, arm: Arm) -> Routing:
    """Every request to one arm: a model without a policy."""
    return Routing(model=model, arms=(arm,), bounds=(100.0,))


def routing(model: str, policy: TrafficPolicy, arms: Mapping[str, Arm]) -> Routing:
    """``policy`` over ``arms`` (which hold every arm it names)."""
    chosen = tuple(arms[name] for name in policy.split)
    bounds = tuple(accumulate(policy.split.values()))
    sticky = None
    if policy.sticky is not None:
        kind, _, name = policy.sticky.partition(":")
        sticky = (kind, name)
    shadows = tuple((arms[name], share) for name, share in policy.shadow.items())
    return Routing(
        model=model,
        arms=chosen,
        bounds=(*bounds[:-1], 100.0),
        sticky=sticky,
        shadows=shadows,
        policy=policy,
    )


def without_key(given: dict[str, Any], routing_: Routing, model: LoadedModel) -> dict[str, Any]:
    """The inputs less the sticky input field when the model does not take it."""
    if routing_.sticky is None or routing_.sticky[0] != "input":
        return given
    name = routing_.sticky[1]
    if name not in given or name in model.signature.names:
        return given
    return {k: v for k, v in given.items() if k != name}
