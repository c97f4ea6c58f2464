"""``store.evaluations`` over HTTP (server/api/evaluations.py answers). A large
evaluation travels as blobs of encoded items, then one small body naming them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import msgspec

from assay import wire
from assay.records import EvalItem, Evaluation, EvaluationDraft
from assay.store.http.blobs import HttpBlobs
from assay.store.http.transport import Transport, decode, seg

PART_BYTES = 8 << 20  # an evaluation body above this sends its items as blobs of about this size
_msgpack = msgspec.msgpack.Encoder()


class HttpEvaluations:
    def __init__(self, http: Transport, blobs: HttpBlobs) -> None:
        self.http = http
        self.blobs = blobs

    def save(self, draft: EvaluationDraft, actor: str | None = None) -> Evaluation:
        parts = item_parts(draft.items)  # each item encoded once, whichever way it travels
        if len(parts) == 1:
            whole = msgspec.structs.replace(draft, items=cast(Any, parts[0]))
            return decode(self.http.send("POST", "/api/v1/evaluations", whole), Evaluation)
        digests = self.blobs.upload([_msgpack.encode(part) for part in parts])
        ask = wire.EvaluationParts(msgspec.structs.replace(draft, items=[]), digests)
        return decode(self.http.send("POST", "/api/v1/evaluations/parts", ask), Evaluation)

    def get(self, evaluation_id: str) -> Evaluation:
        return self.http.get(f"/api/v1/evaluations/{seg(evaluation_id)}", Evaluation)

    def items(self, evaluation_id: str) -> list[EvalItem]:
        return self.http.get(f"/api/v1/evaluations/{seg(evaluation_id)}/items", list[EvalItem])

    def list(
        self,
        project: str | None = None,
        model_version_id: str | None = None,
        dataset_version_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Evaluation]:
        asked = {
            "project": project,
            "model_version": model_version_id,
            "dataset_version": dataset_version_id,
        }
        params: dict[str, Any] = {k: v for k, v in asked.items() if v is not None}
        path = "/api/v1/evaluations"
        params.update(limit=limit, offset=offset)
        return self.http.get(path, list[Evaluation], params=params)


def item_parts(items: Sequence[EvalItem]) -> list[list[msgspec.Raw]]:
    """Item results, each encoded once, in groups of about PART_BYTES (an item larger than
    that goes alone), in order; a group encodes as a msgpack list of items."""
    parts: list[list[msgspec.Raw]] = [[]]
    filled = 0
    for item in items:
        raw = msgspec.Raw(_msgpack.encode(item))
        if parts[-1] and filled + len(raw) > PART_BYTES:
            parts.append([])
            filled = 0
        parts[-1].append(raw)
        filled += len(raw)
    return parts
