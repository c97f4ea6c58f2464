"""Which version of a label's split a caller gets: sticky by key, weighted by share.

The same placement as a served model's traffic split (serving/traffic.py): a key lands
on ``hash(prompt, label, key)`` placed on the arms' cumulative shares (BLAKE2b, the same
in every process and on every machine), so one user keeps one version while the split
stays the same; without a key, a random draw.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from itertools import accumulate

_SPAN = float(1 << 64)


def place(scope: str, key: str) -> float:
    """Where a key falls on [0, 100): the same for the same scope and key everywhere."""
    digest = hashlib.blake2b(f"{scope}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SPAN * 100


def choose(
    split: dict[str, float], scope: str, key: str | None, draw: random.Random | None = None
) -> str:
    """The arm (a version number, as text) of ``split`` (arm -> percentage, largest
    first, adding up to 100) for ``key``; at random when there is no key."""
    arms = list(split)
    if len(arms) == 1:
        return arms[0]
    point = place(scope, key) if key is not None else (draw or random).random() * 100
    bounds = list(accumulate(split.values()))
    index = bisect.bisect_right(bounds, point)
    return arms[min(index, len(arms) - 1)]
