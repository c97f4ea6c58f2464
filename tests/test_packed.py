"""Packed request-log columns (assay/packed.py): a numeric, boolean, datetime or timedelta
array packs into one msgpack extension value and unpacks into exactly the values the
writer stored before columns were packed (``tolist``; datetimes and timedeltas as text);
anything else does not pack, and a damaged packed column is refused."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from msgspec.msgpack import Ext

from assay.packed import CODE, pack, rows_of, unpack


def as_before(array: np.ndarray) -> list[Any]:
    """The column as the writer stored it before columns were packed."""
    if array.dtype.kind in "Mm":
        array = array.astype(str)
    values: list[Any] = array.tolist()
    return values


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal values of equal types, NaN included: the same msgpack bytes."""
    return msgspec.msgpack.encode(a) == msgspec.msgpack.encode(b)


COLUMNS = {
    "float64 with NaN and infinities": np.array([1.5, np.nan, -np.inf, np.inf, -0.0]),
    "float32": np.array([0.1, 2.5, np.nan], dtype=np.float32),
    "float16": np.array([0.1, 65504.0], dtype=np.float16),
    "int64 extremes": np.array([-(2**63), 0, 2**63 - 1]),
    "uint64 extremes": np.array([0, 2**64 - 1], dtype=np.uint64),
    "int8": np.array([-128, 127], dtype=np.int8),
    "bool": np.array([True, False, True]),
    "big-endian floats": np.array([1.25, -3.0], dtype=">f8"),
    "a strided column of a table": np.arange(12.0).reshape(4, 3)[:, 1],
    "tensor rows": np.arange(24, dtype=np.int32).reshape(4, 2, 3),
    "datetimes with NaT": np.array(["2026-12-02T14:45:00.123456789", "NaT"], dtype="M8[ns]"),
    "dates": np.array(["2026-12-02", "1969-07-20"], dtype="M8[D]"),
    "timedeltas with NaT": np.array([5, "NaT", -3], dtype="m8[ms]"),
    "no rows": np.array([], dtype=np.float64),
}


@pytest.mark.parametrize("array", COLUMNS.values(), ids=COLUMNS.keys())
def test_a_column_unpacks_into_the_values_the_writer_stored_before(array: np.ndarray) -> None:
    packed = pack(array)
    assert packed is not None and packed.code == CODE
    assert rows_of(packed) == len(array)
    journaled = msgspec.msgpack.decode(msgspec.msgpack.encode({"x": packed}))["x"]
    assert isinstance(journaled, Ext)  # what a journal or a server reads back
    assert same(unpack(journaled), as_before(array))


def test_a_packed_column_holds_the_arrays_bytes_not_a_value_per_row() -> None:
    array = np.arange(1000.0)
    packed = pack(array)
    assert packed is not None
    assert len(msgspec.msgpack.encode(packed)) < array.nbytes + 16


UNPACKED = {
    "text": np.array(["a", "bc"]),
    "bytes": np.array([b"a", b"bc"]),
    "objects with None": np.array([1.0, None, "x"], dtype=object),
    "complex": np.array([1 + 2j]),
    "records": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    "a scalar": np.array(3.0),
    "empty rows": np.zeros((3, 0)),
}


@pytest.mark.parametrize("array", UNPACKED.values(), ids=UNPACKED.keys())
def test_columns_of_other_kinds_do_not_pack(array: np.ndarray) -> None:
    assert pack(array) is None


DAMAGED = {
    "another extension type": Ext(CODE + 1, b"\x03<f8" + bytes(8)),
    "no header": Ext(CODE, b""),
    "a header cut short": Ext(CODE, b"\x09<f8"),
    "a dtype that does not read": Ext(CODE, b"\x02zz" + bytes(8)),
    "objects": Ext(CODE, b"\x03|O8" + bytes(8)),
    "text": Ext(CODE, b"\x03<U1" + bytes(8)),
    "records": Ext(CODE, b"\x07i4,f8;1" + bytes(12)),
    "part of a row": Ext(CODE, b"\x03<f8" + bytes(12)),
    "a row of no values": Ext(CODE, b"\x05<f8;0"),
    "a row shape that does not read": Ext(CODE, b"\x05<f8;x" + bytes(8)),
    "a row too large": Ext(CODE, b"\x0f<f8;65536,65536"),
}


@pytest.mark.parametrize("value", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_packed_column_is_refused(value: Ext) -> None:
    with pytest.raises(ValueError, match="packed column"):
        rows_of(value)
    with pytest.raises(ValueError, match="packed column"):
        unpack(value)
