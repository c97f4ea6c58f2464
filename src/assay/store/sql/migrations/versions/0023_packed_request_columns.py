"""Request-log columns may be packed: a numeric, boolean, datetime or timedelta column of
an entry's inputs or outputs stored as one msgpack extension value (type 1: a length
byte, numpy's dtype string and, for a tensor, ``;`` and the shape of a row, then the
values' bytes in C order; assay/packed.py) instead of a list of one value per row.

The upgrade changes nothing stored: it marks the store, so an Assay that cannot read
packed columns refuses it as newer than it knows instead of failing on an entry. The
downgrade turns every packed column back into the list of its values, as entries were
stored before (datetimes and timedeltas as numpy's text of them, as readers give them).
The unpacking is written out here so that this revision keeps reading what it was
written for whatever assay/packed.py becomes.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

PAGE = 2000  # entries read at once
PACKED = 1  # the msgpack extension type of a packed column


def upgrade() -> None:
    pass


def downgrade() -> None:
    conn = op.get_bind()
    log = sa.Table("request_log", sa.MetaData(), autoload_with=conn)
    found: list[int] = []  # packed columns met while decoding the current entry

    def unpack(code: int, data: memoryview) -> list[Any]:
        found.append(code)
        return _unpacked(code, data)

    decode = msgspec.msgpack.Decoder(ext_hook=unpack).decode
    encode = msgspec.msgpack.Encoder().encode
    update = (
        log.update()
        .where(log.c.model == sa.bindparam("b_model"), log.c.request_id == sa.bindparam("b_id"))
        .values(inputs=sa.bindparam("b_inputs"), outputs=sa.bindparam("b_outputs"))
    )
    for page in _pages(conn, log):
        changed = []
        for row in page:
            found.clear()
            inputs, outputs = decode(row.inputs), decode(row.outputs)
            if found:
                changed.append(
                    {
                        "b_model": row.model,
                        "b_id": row.request_id,
                        "b_inputs": encode(inputs),
                        "b_outputs": encode(outputs),
                    }
                )
        if changed:
            conn.execute(update, changed)


def _unpacked(code: int, data: memoryview) -> list[Any]:
    """A packed column's values, one per row."""
    if code != PACKED or not data:
        raise ValueError(f"msgpack extension type {code} is not a packed request column")
    start = 1 + data[0]
    spelled, _, shape = bytes(data[1:start]).decode("ascii").partition(";")
    dtype = np.dtype(spelled)
    row = tuple(int(size) for size in shape.split(",")) if shape else ()
    width = dtype.itemsize * int(np.prod(row, dtype=np.int64))
    rows = (len(data) - start) // width
    if rows == 0:
        return []
    array = np.frombuffer(data, dtype, offset=start).reshape(rows, *row)
    if dtype.kind in "Mm":
        array = array.astype(str)
    values: list[Any] = array.tolist()
    return values


def _pages(conn: sa.Connection, table: sa.Table) -> Iterator[list[Any]]:
    """Every entry of ``table`` by (model, request id), a page at a time."""
    t = table.c
    order = (t.model, t.request_id)
    after: tuple[Any, ...] | None = None
    while True:
        query = sa.select(t.model, t.request_id, t.inputs, t.outputs).order_by(*order).limit(PAGE)
        if after is not None:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*after))
        page = list(conn.execute(query))
        if not page:
            return
        yield page
        after = (page[-1].model, page[-1].request_id)
