"""Rich values on the SDK's side: delivering a batch's blobs before the batch (only the
ones the store lacks), and reading a run's values back (``Api().run(id).media(key)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.media import codec
from assay.media.value import Value
from assay.records import Batch, BlobData, Op
from assay.store.facets.media import MAX_MEDIA_PAGE

if TYPE_CHECKING:
    from assay.store.base import Store


def send_batch(store: Store, batch: Batch) -> bool:
    """Store the blobs the batch carries that the store lacks, then the batch without
    them; False when the store had applied this batch before."""
    carried = [op for op in batch.ops if isinstance(op, BlobData)]
    if not carried:
        return store.runs.write_batch(batch)
    blobs = {d: data for op in carried for d, data in op.blobs.items()}
    missing = store.blobs.missing(list(blobs))
    if missing:
        store.blobs.put_many([blobs[d] for d in missing])
    ops: list[Op] = [op for op in batch.ops if not isinstance(op, BlobData)]
    return store.runs.write_batch(
        Batch(run_id=batch.run_id, writer=batch.writer, seq=batch.seq, ops=ops)
    )


def read(
    store: Store, run_id: str, key: str, start: int | None = None, end: int | None = None
) -> list[tuple[int, Value | list[Value]]]:
    """Every value logged under ``key``, as (step, value), by step; blobs are fetched
    when a value is first read."""
    records = []
    while True:  # pages of MAX_MEDIA_PAGE, until one comes back short
        page = store.media.list(run_id, key, start=start, end=end, limit=MAX_MEDIA_PAGE)
        records += page
        if len(page) < MAX_MEDIA_PAGE:
            break
        start = page[-1].step + 1
    return [(r.step, codec.decode(r.kind, r.body, store.blobs.get)) for r in records]
