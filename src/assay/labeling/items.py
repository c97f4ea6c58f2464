"""Items of a label project from a table (CSV, JSON Lines or Parquet, or a data frame):
one item per row, its kind chosen by the columns named."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.labeling.data import require_columns
from assay.records import LabelItemDraft

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet", ".pq")


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (every value as text), JSON Lines or Parquet file as a data frame."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if suffix not in TABLE_SUFFIXES:
        raise InvalidInput(
            f"{path}: a table is .csv, .jsonl or .parquet, not {suffix or 'no suffix'}"
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        if suffix in {".jsonl", ".ndjson"}:
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{path}: the file is empty") from exc
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable table ({exc})") from exc


def _plain(value: Any) -> Any:
    """A cell as JSON can hold it (numpy scalars to Python, NaN to None)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def items_from_frame(
    frame: pd.DataFrame,
    *,
    id_column: str | None = None,
    text_column: str | None = None,
    image_column: str | None = None,
    input_column: str | None = None,
    output_column: str | None = None,
    pair_columns: tuple[str, str] | None = None,
    gold_column: str | None = None,
    group_column: str | None = None,
) -> list[LabelItemDraft]:
    """One item per row. Its kind: ``pair`` with two output columns (and the input
    column as the prompt), ``output`` with an output column (a model output to judge),
    ``image`` with an image column (a URL, or the path of a file in the dataset
    version the items come from), ``text`` with a
    text column, else ``row`` (the whole row shown as a table). ``group_column``: the
    kind of item for annotator quality (a topic, a language), kept as the data's
    ``group``."""
    if frame.empty:
        raise InvalidInput("the table has no rows: a label project needs items")
    named = [
        c
        for c in (
            id_column,
            text_column,
            image_column,
            input_column,
            output_column,
            gold_column,
            group_column,
        )
        if c
    ]
    require_columns(frame, [*named, *(pair_columns or ())], "items table")
    ids = frame[id_column].astype(str) if id_column else frame.index.astype(str)
    drafts = []
    for item_id, (_, row) in zip(ids, frame.iterrows(), strict=True):
        cells = {str(k): _plain(v) for k, v in row.items()}
        gold = cells.pop(gold_column) if gold_column else None
        made = _kind_and_data(
            cells, text_column, image_column, input_column, output_column, pair_columns
        )
        if group_column and cells.get(group_column) is not None:
            made["data"] = {**made["data"], "group": str(cells[group_column])}
        drafts.append(LabelItemDraft(item_id=item_id, **made, gold=gold))
    return drafts


def _kind_and_data(  # noqa: PLR0917 - the columns, in the order items_from_frame names them
    cells: dict[str, Any],
    text: str | None,
    image: str | None,
    input_: str | None,
    output: str | None,
    pair: tuple[str, str] | None,
) -> dict[str, Any]:
    prompt = cells.get(input_) if input_ else None
    if pair:
        return {
            "kind": "pair",
            "data": {"prompt": prompt, "a": cells[pair[0]], "b": cells[pair[1]]},
        }
    if output:
        return {"kind": "output", "data": {"input": prompt, "output": cells[output]}}
    if image:
        value = str(cells[image])
        key = "url" if "://" in value or value.startswith("/") else "path"
        return {"kind": "image", "data": {key: value}}
    if text:
        return {"kind": "text", "data": {"text": cells[text]}}
    return {"kind": "row", "data": {"row": cells}}
