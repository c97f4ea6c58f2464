"""A request-log column as one packed value instead of a list of one Python value per row.

A numeric, boolean, datetime or timedelta numpy column (its first dimension the rows)
travels in journals and batches, and is stored, as one msgpack extension value of type
``CODE`` holding its dtype, the shape of one row and its bytes: the writer copies bytes
(``pack``) where it made a Python object per value and encoded each. The store checks a
packed column's length as it checks a list's (``rows_of``) and keeps it as it came;
readers unpack it (``unpack``) into exactly the list ``tolist`` gives, datetimes and
timedeltas as numpy's text of them, the values the writer stored before columns were
packed. Strings, objects and anything else stay lists.

Payload: ``<u8 n><n bytes of ASCII header><the array's bytes in C order>``. The header is
numpy's dtype string, then, for a tensor, ``;`` and the shape of a row: ``<f8``,
``<M8[ns]``, ``|b1``, ``<f4;3,4``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from msgspec.msgpack import Ext

CODE = 1  # the msgpack extension type of a packed column
KINDS = "biufMm"  # bool, int, uint, float, datetime, timedelta
TEXT = "Mm"  # kinds readers get as text
MAX_DIMS = 32  # of a row
MAX_ROW = 2**31  # values in one row
MAX_KNOWN = 1024  # headers remembered, written and read (a server or store sees a few)

Header = tuple[np.dtype[Any], tuple[int, ...], int]  # dtype, shape of a row, bytes a row

_prefixes: dict[tuple[np.dtype[Any], tuple[int, ...]], bytes] = {}
_headers: dict[bytes, Header] = {}


def pack(array: np.ndarray) -> Ext | None:
    """``array`` as a packed column, or None when its values are not of a kind that
    packs (strings, objects, complex numbers, records, scalars, empty rows)."""
    key = (array.dtype, array.shape[1:])
    prefix = _prefixes.get(key)
    if prefix is None:
        prefix = _prefix(*key)
        if len(_prefixes) < MAX_KNOWN:
            _prefixes[key] = prefix
    if not prefix or array.ndim == 0:
        return None
    return Ext(CODE, prefix + array.tobytes())


def _prefix(dtype: np.dtype[Any], row: tuple[int, ...]) -> bytes:
    """The header of a packed column of ``dtype`` and rows of shape ``row`` (with its
    length in front), or b"" when such a column does not pack."""
    if (
        dtype.kind not in KINDS
        or dtype.fields is not None
        or len(row) >= MAX_DIMS
        or not 0 < math.prod(row) <= MAX_ROW
    ):
        return b""
    header = dtype.str if not row else f"{dtype.str};{','.join(map(str, row))}"
    head = header.encode("ascii")
    return bytes((len(head),)) + head


def is_packed(value: object) -> bool:
    return type(value) is Ext and value.code == CODE


def rows_of(value: Ext) -> int:
    """How many rows a packed column holds; ValueError when it is not a packed column
    (a damaged or foreign extension value). A store checks every column of every entry:
    a header seen before is looked up, not read again."""
    data = value.data
    if value.code == CODE and type(data) is bytes and data:
        start = 1 + data[0]
        known = _headers.get(data[1:start])
        body = len(data) - start  # below 0 when the header is cut short
        if known is not None and body >= 0 and not body % known[2]:
            return body // known[2]
    return _parts(value.code, data)[3]  # reads the header, or says what is wrong


def unpack(value: Ext) -> list[Any]:
    """A packed column's values, one per row, as ``tolist`` gives them (datetimes and
    timedeltas as text); ValueError when it is not a packed column."""
    data = memoryview(value.data)
    dtype, row, start, rows = _parts(value.code, data)
    if rows == 0:
        return []
    array = np.frombuffer(data, dtype, offset=start).reshape(rows, *row)
    if dtype.kind in TEXT:
        array = array.astype(str)
    values: list[Any] = array.tolist()
    return values


def _parts(code: int, data: Any) -> tuple[np.dtype[Any], tuple[int, ...], int, int]:
    """(dtype, shape of a row, where the values start, rows), every part checked."""
    if code != CODE:
        raise ValueError(f"msgpack extension type {code} is not a packed column")
    if not data:
        raise ValueError("a packed column without a header")
    start = 1 + data[0]
    if start > len(data):
        raise ValueError("a packed column's header is cut short")
    header = bytes(data[1:start])
    known = _headers.get(header)
    if known is None:
        known = _read_header(header)
        if len(_headers) < MAX_KNOWN:
            _headers[header] = known
    dtype, row, width = known
    body = len(data) - start
    if body % width:
        raise ValueError(f"a packed column of {body} bytes is not whole rows of {width}")
    return dtype, row, start, body // width


def _read_header(header: bytes) -> Header:
    try:
        spelled, _, shape = header.decode("ascii").partition(";")
        dtype = np.dtype(spelled)
        row = tuple(int(size) for size in shape.split(",")) if shape else ()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a packed column's header does not read: {exc}") from None
    if dtype.kind not in KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"a packed column of dtype {dtype.str!r}")
    if len(row) >= MAX_DIMS or any(size < 1 for size in row) or math.prod(row) > MAX_ROW:
        raise ValueError(f"a packed column's rows of shape {list(row)}")
    return dtype, row, dtype.itemsize * math.prod(row)
