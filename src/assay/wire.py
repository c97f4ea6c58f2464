"""What travels between the remote client and the server, and how it is encoded.

msgpack by default (compact, keeps NaN and raw bytes); JSON when a client asks for it.
Series travel as raw little-endian arrays, so neither side does per-point work.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from assay.records import (
    AnnotationDraft,
    Batch,
    Columns,
    EvaluationDraft,
    LabelItemDraft,
    LabelTask,
    Span,
)

MSGPACK = "application/msgpack"
JSON = "application/json"

T = TypeVar("T")


class IngestRequest(msgspec.Struct):
    batches: list[Batch]


class IngestResponse(msgspec.Struct):
    applied: list[bool]


class SeriesRequest(msgspec.Struct):
    run_ids: list[str]
    keys: list[str]
    points: int = 1000
    start: int | None = None
    end: int | None = None


class SeriesWire(msgspec.Struct):
    run_id: str
    key: str
    steps: bytes
    times: bytes
    values: bytes


class BlobRef(msgspec.Struct):
    digest: str


_msgpack = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()


def encode(obj: Any, content_type: str) -> bytes:
    return _json.encode(obj) if content_type == JSON else _msgpack.encode(obj)


def decode(data: bytes, kind: type[T], content_type: str) -> T:
    """Decode a body; anything that is not a ``kind`` raises msgspec.DecodeError or
    ValidationError (a body nested too deeply to decode included)."""
    try:
        if content_type.startswith(JSON):
            return msgspec.json.decode(data, type=kind)
        return msgspec.msgpack.decode(data, type=kind)
    except RecursionError:
        raise msgspec.DecodeError("the body is nested too deeply to decode") from None


def to_wire(run_id: str, key: str, series: Columns) -> SeriesWire:
    steps, times, values = series.to_bytes()
    return SeriesWire(run_id=run_id, key=key, steps=steps, times=times, values=values)


def from_wire(item: SeriesWire) -> Columns:
    return Columns.from_bytes(item.steps, item.times, item.values)


# ---- artifacts, lineage, registry ---------------------------------------------------------


class Digests(msgspec.Struct):
    digests: list[str]


class Missing(msgspec.Struct):
    missing: list[str]


class BlobBatch(msgspec.Struct):
    """Many blobs in one request or answer (an artifact's chunks): msgpack bin each."""

    blobs: list[bytes]


class Ids(msgspec.Struct):
    ids: list[str]


class SetAlias(msgspec.Struct):
    version: int | None


class UseRequest(msgspec.Struct):
    version_id: str


class LineageRequest(msgspec.Struct):
    run_ids: list[str] = []
    version_ids: list[str] = []


class RegisterRequest(msgspec.Struct):
    version_id: str
    description: str | None = None
    tags: dict[str, str] = {}


class MoveRun(msgspec.Struct):
    project: str


class MoveAlias(msgspec.Struct):
    version: int | None
    reason: str | None = None
    evidence: str | None = None


class SetTraffic(msgspec.Struct):
    split: dict[str, Any] | None  # checked by the store, which names what is wrong
    sticky: str | None = None
    shadow: dict[str, Any] | None = None
    reason: str | None = None


class SetPromptLabel(msgspec.Struct):
    split: dict[str, Any] | None  # checked by the store, which names what is wrong
    reason: str | None = None
    evidence: str | None = None


class ResolveAlert(msgspec.Struct):
    monitor_id: str
    rule: str
    step: int
    value: float | None = None


class AlertDelivery(msgspec.Struct):
    event: str  # "fired" or "resolved"
    outcome: dict[str, Any]


class ClaimDelivery(msgspec.Struct):
    event: str  # "fired" or "resolved"
    now: float
    lease: float


class EvaluationParts(msgspec.Struct, frozen=True):
    """An evaluation too large for one request: the draft without its items, and the blobs
    (uploaded first, like artifact chunks) that hold them in order, each a msgpack list of
    item results."""

    draft: EvaluationDraft
    item_blobs: list[str]


class LabelRequest(msgspec.Struct, frozen=True):
    """Labels to join to a model's request log: ``labels[i]`` belongs to ``ids[i]``."""

    ids: list[str]
    labels: list[Any]


class Applied(msgspec.Struct, frozen=True):
    applied: bool


# ---- labels ------------------------------------------------------------------------------


class LabelItems(msgspec.Struct, frozen=True):
    items: list[LabelItemDraft]


class LabelTurn(msgspec.Struct, frozen=True, kw_only=True):
    """A claim (no item), a label (item and value) or a skip; ``annotator`` only when an
    admin acts for someone, else the caller."""

    annotator: str | None = None
    item_id: str | None = None
    value: Any = None
    comment: str | None = None


class LabelLoad(msgspec.Struct, frozen=True):
    labels: list[AnnotationDraft]


class LabelRoute(msgspec.Struct, frozen=True, kw_only=True):
    needed: dict[str, int]
    min_quality: float | dict[str, float] | None = None
    quality: dict[str, float] = {}
    kind_quality: dict[str, dict[str, float]] = {}


class Claimed(msgspec.Struct, frozen=True):
    task: LabelTask | None


# ---- traces ---------------------------------------------------------------------------------


class SpanWrite(msgspec.Struct):
    spans: list[Span]


class SpanWritten(msgspec.Struct):
    added: int
