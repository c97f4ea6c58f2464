"""The items an evaluation runs on: read from wherever they are, checked, given ids and digests.

Data may be a list of dicts, a pandas DataFrame, a pyarrow Table, a JSONL / JSON / CSV / TSV /
Parquet file, or a dataset artifact (``digits-split:latest``, ``project/name:v3``), with the
file inside it named after a slash when it holds several (``digits-split:latest/test.csv``).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from assay import digests
from assay.digests import canonical
from assay.errors import InvalidInput
from assay.store.base import Store

TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


@dataclass(frozen=True, kw_only=True)
class Dataset:
    items: list[dict[str, Any]]
    ids: list[str]
    clusters: list[str] | None
    source: str  # what the user named: a ref with its file, a path, "DataFrame"
    version_id: str | None  # the dataset artifact version, when it came from one
    digest: str  # BLAKE3 of the items, as a whole


_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """``value`` as msgpack/JSON-ready data (numpy values converted; unknown types as repr)."""
    if type(value) in _SCALARS:
        return value
    return msgspec.msgpack.decode(canonical(value))


def digest(value: Any) -> str:
    return digests.of_value(value)


def digested(values: Sequence[Any]) -> tuple[list[str], list[Any]]:
    """Each value's digest and its ``plain`` form, from one encoding of each."""
    encoded = [canonical(v) for v in values]
    return [digests.of_bytes(e) for e in encoded], [msgspec.msgpack.decode(e) for e in encoded]


# ---- reading ------------------------------------------------------------------------------------


def _rows_of(data: Any) -> tuple[list[dict[str, Any]], str] | None:
    """In-memory tables: (rows, a description), or None when ``data`` is not one."""
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        rows = list(data)
        bad = next((i for i, row in enumerate(rows) if not isinstance(row, Mapping)), None)
        if bad is not None:
            raise InvalidInput(f"data row {bad} is a {type(rows[bad]).__name__}, not a dict")
        return [dict(row) for row in rows], f"{len(rows)} items"
    kind = type(data).__module__.split(".")[0], type(data).__name__
    if kind == ("pandas", "DataFrame"):
        return [dict(r) for r in data.to_dict(orient="records")], "DataFrame"
    if kind == ("pyarrow", "Table"):
        return list(data.to_pylist()), "Arrow table"
    return None


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON (a list of objects), CSV, TSV or Parquet file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        if suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise InvalidInput(f"{path.name}: a JSON data file holds a list of objects")
            return rows
        if suffix in (".csv", ".tsv"):
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                return [{k: _number(v) for k, v in row.items()} for row in reader]
        if suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise InvalidInput(
                    "reading Parquet needs pyarrow: pip install 'assay[tables]'"
                ) from None
            return list(pq.read_table(path).to_pylist())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path.name} could not be read as {suffix[1:]}: {exc}") from None
    raise InvalidInput(f"{path.name}: data files are {', '.join(TABLE_SUFFIXES)}")


def _split_ref(ref: str) -> tuple[str, str | None]:
    """``name:selector/file.csv`` -> (``name:selector``, ``file.csv``)."""
    colon = ref.find(":")
    slash = ref.find("/", colon) if colon >= 0 else -1
    return (ref[:slash], ref[slash + 1 :]) if slash >= 0 else (ref, None)


def _from_artifact(
    store: Store, ref: str, project: str | None
) -> tuple[list[dict[str, Any]], str, str]:
    from assay.artifacts.artifact import download, resolve

    name, inner = _split_ref(ref)
    version = resolve(store, name, project)
    tables = [
        f.path
        for f in store.artifacts.manifest(version.id).files
        if f.path.endswith(TABLE_SUFFIXES)
    ]
    if inner is None:
        if len(tables) != 1:
            listed = ", ".join(tables) or "none"
            raise InvalidInput(
                f"{version.ref} holds {len(tables)} data files ({listed}); name one: {name}/<file>"
            )
        inner = tables[0]
    elif inner not in tables:
        raise InvalidInput(f"{version.ref} has no data file {inner!r}; it has {', '.join(tables)}")
    folder = download(store, version)
    return read_file(folder / inner), f"{version.ref}/{inner}", version.id


def read(
    data: Any, store: Store | None, project: str | None
) -> tuple[list[dict[str, Any]], str, str | None]:
    """(rows, source, dataset version id) of anything ``evaluate`` accepts as data."""
    rows = _rows_of(data)
    if rows is not None:
        return rows[0], rows[1], None
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if path.suffix.lower() in TABLE_SUFFIXES and path.is_file():
            return read_file(path), str(data), None
        if isinstance(data, str) and ":" in data and not path.exists():
            if store is None:
                raise InvalidInput(f"{data!r} names an artifact, but no store is open")
            return _from_artifact(store, data, project)
        raise InvalidInput(f"data {str(data)!r} is neither a data file nor an artifact reference")
    raise InvalidInput(
        f"data of type {type(data).__name__} is not supported: give a list of dicts, a "
        "DataFrame, an Arrow table, a JSONL/CSV/Parquet path or a dataset artifact"
    )


# ---- checking ---------------------------------------------------------------------------------


def _require(rows: list[dict[str, Any]], column: str, role: str) -> None:
    for index, row in enumerate(rows):
        if column not in row:
            have = ", ".join(sorted(rows[0])[:12])
            raise InvalidInput(
                f"the {role} column {column!r} is missing from row {index} (columns: {have})"
            )


def _unique_ids(ids: list[str], column: str) -> None:
    seen: dict[str, int] = {}
    duplicated: list[str] = []
    for index, item_id in enumerate(ids):
        if item_id in seen:
            duplicated.append(f"{item_id!r} (rows {seen[item_id]} and {index})")
        seen.setdefault(item_id, index)
    if duplicated:
        more = f" and {len(duplicated) - 3} more" if len(duplicated) > 3 else ""
        raise InvalidInput(
            f"the id column {column!r} has duplicated values: {', '.join(duplicated[:3])}{more}; "
            "ids pair items across evaluations, so each must be unique"
        )


def prepare(
    data: Any,
    store: Store | None,
    project: str | None,
    id_column: str | None,
    cluster_column: str | None,
    *,
    label_column: str | None,
    slices: Sequence[str],
) -> Dataset:
    rows, source, version_id = read(data, store, project)
    if not rows:
        raise InvalidInput(f"the data ({source}) has no items")
    for column, role in ((label_column, "label"), (cluster_column, "cluster")):
        if column is not None:
            _require(rows, column, role)
    for column in slices:
        _require(rows, column, "slice")
    if id_column is not None:
        _require(rows, id_column, "id")
        ids = [str(row[id_column]) for row in rows]
        _unique_ids(ids, id_column)
    else:
        ids = [str(index) for index in range(len(rows))]
    clusters = [str(row[cluster_column]) for row in rows] if cluster_column else None
    return Dataset(
        items=rows,
        ids=ids,
        clusters=clusters,
        source=source,
        version_id=version_id,
        digest=digest(rows),
    )
