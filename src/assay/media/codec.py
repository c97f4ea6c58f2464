"""A logged value (or a list of values of one kind) to a ``Media`` operation and its
blobs, and a stored body back to values. The kinds are the subclasses of ``Value``."""

from __future__ import annotations

from typing import Any

import msgspec

from assay.errors import InvalidInput
from assay.media.audio import Audio
from assay.media.histogram import Histogram
from assay.media.html import Html
from assay.media.image import Image
from assay.media.plot import Plot
from assay.media.table import IMAGE_CELL, Table
from assay.media.text import Text
from assay.media.value import Encoded, Fetch, Value
from assay.media.video import Video
from assay.records import Media

KINDS: dict[str, type[Value]] = {
    cls.kind: cls for cls in (Image, Table, Histogram, Plot, Audio, Text, Html, Video)
}
MAX_LIST = 1_000  # values in one list logged under one key at one step
MAX_VALUE_BYTES = 256 * 1024 * 1024  # one logged value (or list), as held until encoded

Logged = Value | list[Value]


def check(key: str, value: object) -> Logged | None:
    """``value`` if it is a rich value or a non-empty list of one kind of them, else None
    (it is then a scalar, or nothing Assay logs)."""
    if isinstance(value, Value):
        logged: Logged = value
    elif isinstance(value, list | tuple) and value and isinstance(value[0], Value):
        kind = type(value[0])
        if len(value) > MAX_LIST or not all(type(v) is kind for v in value):
            raise InvalidInput(
                f"{key!r}: a list logged at one step holds at most {MAX_LIST} values of one "
                "kind (all assay.Image, say)"
            )
        logged = list(value)
    else:
        return None
    if size_of(logged) > MAX_VALUE_BYTES:
        raise InvalidInput(
            f"{key!r}: {size_of(logged)} bytes in one logged value is over {MAX_VALUE_BYTES}; "
            "log fewer or smaller values, or the files as an artifact"
        )
    return logged


def size_of(value: Logged) -> int:
    return sum(v.nbytes for v in value) if isinstance(value, list) else value.nbytes


def encode(key: str, step: int, at: float, value: Logged) -> tuple[Media, dict[str, bytes]]:
    """The operation recording ``value`` and the blobs it names (digest -> bytes)."""
    out = Encoded(body={})
    if isinstance(value, list):
        kind = value[0].kind
        body: dict[str, Any] = {"items": [v.encode(out) for v in value]}
    else:
        kind = value.kind
        body = value.encode(out)
    op = Media(key=key, step=step, at=at, kind=kind, body=body, blobs=sorted(out.blobs))
    return op, out.blobs


def blobs_named(kind: str, body: dict[str, Any], fetch: Fetch) -> list[str]:
    """The digests of every blob a stored body names, sorted: its own, an image's masks,
    and those of the images in a table's cells (read from the table's blob)."""
    found: set[str] = set()
    for item in body.get("items", [body]):
        _named(kind, item, fetch, found)
    return sorted(found)


def _named(kind: str, body: dict[str, Any], fetch: Fetch, found: set[str]) -> None:
    digest = body.get("digest")
    if not isinstance(digest, str):
        return  # a histogram or a text: held in the body itself
    found.add(digest)
    found.update(str(d) for d in body.get("masks", {}).values())
    if kind == Table.kind:
        stored = msgspec.msgpack.decode(fetch(digest))
        for row in stored["rows"]:
            for cell in row:
                if isinstance(cell, dict) and IMAGE_CELL in cell:
                    _named(Image.kind, cell[IMAGE_CELL], fetch, found)


def decode(kind: str, body: dict[str, Any], fetch: Fetch) -> Value | list[Value]:
    """The value a stored body describes (a list when a list was logged)."""
    cls = KINDS.get(kind)
    if cls is None:
        raise InvalidInput(f"unknown media kind {kind!r}; this Assay knows {sorted(KINDS)}")
    if "items" in body:
        return [cls.from_body(item, fetch) for item in body["items"]]
    return cls.from_body(body, fetch)
