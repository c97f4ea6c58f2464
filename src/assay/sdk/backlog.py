"""How the writer's backlog goes to the store: consecutive batches, several per call
(``store.runs.write_batches``: one request to a server, one transaction in it), so that a
writer that fell behind, or comes back after an outage, catches up in a few requests
instead of one per batch. A request stays well inside a server's limits (its default
``max_body_bytes`` is 64 MiB and ``max_batch_points`` 5,000,000)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import msgspec

from assay.errors import AssayError, Conflict, InvalidInput, NotFound
from assay.records import Batch, Points
from assay.store.facets.runs import ManyBatches

REQUEST_BYTES = 8 * 1024 * 1024  # encoded bytes of the batches one request carries, at most
REQUEST_POINTS = 1_000_000  # points one request carries, at most
REQUEST_BATCHES = 256  # batches one request carries, at most
OP_OVERHEAD = 64  # bytes an op's framing and names take on the wire, at most (about)

REFUSED = (InvalidInput, Conflict, NotFound)  # a batch no retry can change

_encoder = msgspec.msgpack.Encoder()


def requests(batches: Iterable[Batch], alone: Callable[[Batch], bool]) -> Iterator[list[Batch]]:
    """``batches`` in order, cut into lists that may go in one request: consecutive
    batches within the bounds. A batch ``alone`` names (one that must go by itself), or
    one that exceeds a bound by itself, comes as a list of one."""
    group: list[Batch] = []
    size = points = 0
    for batch in batches:
        if alone(batch):
            if group:
                yield group
                group, size, points = [], 0, 0
            yield [batch]
            continue
        weight, count = wire_size(batch), points_of(batch)
        over = size + weight > REQUEST_BYTES or points + count > REQUEST_POINTS
        if group and (over or len(group) >= REQUEST_BATCHES):
            yield group
            group, size, points = [], 0, 0
        group.append(batch)
        size += weight
        points += count
    if group:
        yield group


def wire_size(batch: Batch) -> int:
    """About how many bytes ``batch`` takes in a request (msgpack, before compression);
    points are counted by their columns, without encoding them."""
    size = OP_OVERHEAD + len(batch.run_id) + len(batch.writer)
    for op in batch.ops:
        if isinstance(op, Points):
            size += OP_OVERHEAD + len(op.key) + len(op.steps) + len(op.times) + len(op.values)
        else:
            size += OP_OVERHEAD + len(_encoder.encode(op))
    return size


def points_of(batch: Batch) -> int:
    """Points in ``batch``, as a server counts them against ``max_batch_points``."""
    return sum(op.count for op in batch.ops if isinstance(op, Points))


def write_many(runs: ManyBatches, group: list[Batch]) -> list[bool] | None:
    """Deliver ``group`` in one request, which the store applies all or none: whether
    each batch was new, or None when the store refused the request (one batch it
    refuses, a limit, an error that is neither Assay's nor the OS's), so the caller
    sends them one at a time and only a batch refused by itself is set aside; a retry
    never duplicates one applied already. An outage raises, to be retried."""
    try:
        return list(runs.write_batches(group))
    except REFUSED:
        return None
    except (AssayError, OSError):
        raise
    except Exception:
        return None
