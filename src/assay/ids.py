"""Identifiers: sortable run ids and friendly run names."""

from __future__ import annotations

import os
import random
import time

# Crockford's base32: no I, L, O, U, so ids read aloud without ambiguity.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

_ADJECTIVES = [
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "dapper",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "hardy",
    "jolly",
    "keen",
    "lively",
    "lucid",
    "mellow",
    "nimble",
    "noble",
    "quiet",
    "rapid",
    "royal",
    "rustic",
    "serene",
    "sharp",
    "silent",
    "sleek",
    "solar",
    "steady",
    "stellar",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "witty",
]
_NOUNS = [
    "anvil",
    "aurora",
    "badger",
    "beacon",
    "canyon",
    "cedar",
    "comet",
    "crane",
    "delta",
    "ember",
    "falcon",
    "fern",
    "glacier",
    "harbor",
    "heron",
    "island",
    "lagoon",
    "lantern",
    "maple",
    "meadow",
    "mesa",
    "nebula",
    "orbit",
    "otter",
    "pine",
    "prairie",
    "quartz",
    "raven",
    "river",
    "sierra",
    "spruce",
    "summit",
    "thistle",
    "tundra",
    "willow",
]


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_run_id() -> str:
    """A 16-character id that sorts by creation time (ms) and then at random."""
    millis = time.time_ns() // 1_000_000
    return _encode(millis, 9) + _encode(int.from_bytes(os.urandom(5), "big"), 7)[:7]


def new_writer_id() -> str:
    """An id for one writing process, so its batch sequence numbers never collide."""
    return _encode(int.from_bytes(os.urandom(10), "big"), 16)


def new_run_name() -> str:
    """A human name such as ``swift-heron-42``."""
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(1, 99)}"
