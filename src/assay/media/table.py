"""``assay.Table``: rows and named columns (a pandas DataFrame, or a list of rows) whose
cells are numbers, strings, booleans, None or ``assay.Image``. Stored as one msgpack blob
(plus each image's), so NaN survives and a large table does not bloat the database."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from assay.errors import InvalidInput
from assay.media.image import Image
from assay.media.value import Encoded, Fetch, Lazy, Value

if TYPE_CHECKING:
    import pandas as pd

MAX_TABLE_CELLS = 1_000_000  # rows x columns; a larger table is refused at the call
MAX_TABLE_IMAGES = 10_000
MAX_COLUMNS = 1_000
MAX_TABLE_TEXT = 32 * 1024 * 1024  # characters in all string cells: the table's blob stays small
IMAGE_CELL = "$image"  # a cell holding an image is stored as {IMAGE_CELL: its body}
Cell = None | bool | int | float | str | Image


class Table(Value):
    """``assay.Table(df)``, ``assay.Table(rows, columns=[...])`` or
    ``assay.Table(columns=[...], data=rows)`` (W&B's spelling). Rows may be lists,
    tuples or dicts keyed by column."""

    kind = "table"

    def __init__(
        self, data: Any = None, columns: Sequence[str] | None = None, *, dataframe: Any = None
    ) -> None:
        self._stored: Lazy | None = None
        source = dataframe if dataframe is not None else data
        if source is None:
            raise InvalidInput("a table needs data: a DataFrame or a list of rows")
        if hasattr(source, "itertuples") and hasattr(source, "columns"):
            names = [str(c) for c in source.columns] if columns is None else list(columns)
            raw: list[Any] = list(source.itertuples(index=False, name=None))
        elif isinstance(source, Sequence) and not isinstance(source, str | bytes):
            raw = list(source)
            names = _names(raw, columns)
        else:
            raise InvalidInput(
                f"a table takes a DataFrame or a list of rows, not {type(source).__name__}"
            )
        self.columns = _check_columns(names)
        _check_size(len(raw), len(self.columns))
        self.rows: list[list[Cell]] = [_row(r, self.columns, i) for i, r in enumerate(raw)]
        images = sum(isinstance(c, Image) for r in self.rows for c in r)
        if images > MAX_TABLE_IMAGES:
            raise InvalidInput(
                f"a table holds at most {MAX_TABLE_IMAGES} images; this has {images}"
            )
        self._text = sum(len(c) for r in self.rows for c in r if isinstance(c, str))
        if self._text > MAX_TABLE_TEXT:
            raise InvalidInput(
                f"a table's strings hold {self._text} characters, over MAX_TABLE_TEXT "
                f"({MAX_TABLE_TEXT})"
            )

    @property
    def nbytes(self) -> int:
        cells = sum(c.nbytes if isinstance(c, Image) else 16 for r in self.rows for c in r)
        return cells + self._text + 64 * len(self.columns)

    def encode(self, out: Encoded) -> dict[str, Any]:
        rows = [[_cell_body(c, out) for c in r] for r in self.rows]
        data = msgspec.msgpack.encode({"columns": self.columns, "rows": rows})
        return {"digest": out.add(data), "columns": self.columns, "rows": len(rows)}

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Table:
        decoded = msgspec.msgpack.decode(fetch(body["digest"]))
        table = cls.__new__(cls)
        table._stored = Lazy(body["digest"], fetch)
        table.columns = list(decoded["columns"])
        table.rows = [[_cell_value(c, fetch) for c in r] for r in decoded["rows"]]
        table._text = sum(len(c) for r in table.rows for c in r if isinstance(c, str))
        return table

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"<Table {len(self.rows)} rows x {len(self.columns)} columns>"


def _names(raw: list[Any], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    if raw and isinstance(raw[0], Mapping):
        return [str(k) for k in raw[0]]
    width = len(raw[0]) if raw and isinstance(raw[0], Sequence) else 0
    return [f"c{i}" for i in range(width)]


def _check_columns(names: list[Any]) -> list[str]:
    if not names or len(names) > MAX_COLUMNS:
        raise InvalidInput(f"a table needs 1-{MAX_COLUMNS} columns; got {len(names)}")
    for name in names:
        if not isinstance(name, str) or not name or len(name) > 256 or "\x00" in name:
            raise InvalidInput(f"table column name {name!r:.40} must be a non-empty string")
    if len(set(names)) != len(names):
        raise InvalidInput(f"table column names repeat: {names}")
    return [str(n) for n in names]


def _check_size(rows: int, columns: int) -> None:
    if rows * columns > MAX_TABLE_CELLS:
        raise InvalidInput(
            f"a table of {rows} rows x {columns} columns is over MAX_TABLE_CELLS "
            f"({MAX_TABLE_CELLS} cells); log a sample, or the file as an artifact"
        )


def _row(raw: Any, columns: list[str], index: int) -> list[Cell]:
    if isinstance(raw, Mapping):
        unknown = set(raw) - set(columns)
        if unknown:
            raise InvalidInput(f"table row {index} has keys not in the columns: {sorted(unknown)}")
        values = [raw.get(c) for c in columns]
    elif isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        values = list(raw)
    else:
        raise InvalidInput(f"table row {index} must be a list, tuple or dict")
    if len(values) != len(columns):
        raise InvalidInput(
            f"table row {index} has {len(values)} cells; there are {len(columns)} columns"
        )
    return [_cell(v, index, columns[i]) for i, v in enumerate(values)]


def _cell(value: Any, row: int, column: str) -> Cell:
    kind = type(value)
    if value is None or kind is bool or kind is float or kind is Image:
        return value  # type: ignore[no-any-return]
    if kind is int:
        if not -(2**63) <= value < 2**64:
            raise InvalidInput(f"table cell ({row}, {column!r}): {value} is outside 64 bits")
        return value  # type: ignore[no-any-return]
    if kind is str:
        if "\x00" in value:
            raise InvalidInput(f"table cell ({row}, {column!r}) holds a NUL character")
        return value  # type: ignore[no-any-return]
    if isinstance(value, Image):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return _cell(item(), row, column)
    if isinstance(value, float | int | str):
        return _cell(_plain(value), row, column)
    if value.__class__.__name__ in ("NaTType", "NAType"):
        return None
    raise InvalidInput(
        f"table cell ({row}, {column!r}) is a {kind.__name__}; cells hold numbers, strings, "
        "booleans, None or assay.Image"
    )


def _plain(value: float | int | str) -> float | int | str:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str.__str__(value)


def _cell_body(cell: Cell, out: Encoded) -> Any:
    if isinstance(cell, Image):
        return {IMAGE_CELL: cell.encode(out)}
    if isinstance(cell, float) and not math.isfinite(cell):
        return cell  # msgpack keeps NaN and infinities
    return cell


def _cell_value(cell: Any, fetch: Fetch) -> Cell:
    if isinstance(cell, dict) and IMAGE_CELL in cell:
        return Image.from_body(cell[IMAGE_CELL], fetch)
    return cell  # type: ignore[no-any-return]
