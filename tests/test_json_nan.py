"""NaN and infinities in JSON fields: an artifact's metadata is stored with them as null
by every backend (PostgreSQL refused them; SQLite kept text no JSON reader takes); a
span's attributes keep them in the store (msgpack carries them) and are exported as null;
an export is strict JSON throughout, and imports back as None."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from assay.artifacts import transfer
from assay.importers import export_project, import_export
from assay.records import ArtifactDraft, FileEntry, Span
from assay.store import Store, open_store
from assay.values import finite, json_text
from tests.conftest import StoreFactory, create_run

NAN, INF = float("nan"), float("inf")
NS = 1_700_000_000_000_000_000
TRACE = f"{1:032x}"


def _write(store: Store) -> None:
    run_id = create_run(store, name="trained", at=1_700_000_000.0)
    reference = FileEntry(path="raw.csv", size=0, digest="d", ref="s3://bucket/raw.csv")
    store.artifacts.commit(
        ArtifactDraft(
            project="p",
            name="data",
            type="dataset",
            manifest=transfer.upload(store, [], [reference], progress=False),
            metadata={"mean": NAN, "range": [-INF, INF], "rows": 3},
            aliases=[],
            run_id=run_id,
            description=None,
        )
    )
    span = Span(
        project="p",
        trace_id=TRACE,
        span_id=f"{1:016x}",
        parent_id=None,
        name="answer",
        start_ns=NS,
        end_ns=NS + 500,
        attributes={"score": NAN, "bounds": [INF, 1.5]},
    )
    store.traces.write([span])


def _read(store: Store) -> dict[str, Any]:
    (version,) = store.artifacts.versions("p", "data")
    return {
        "metadata": version.metadata,
        "attributes": store.traces.get(TRACE, "p").spans[0].attributes,
    }


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} in exported JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_stored_exported_and_imported_as_null(
    store_factory: StoreFactory, tmp_path: Path
) -> None:
    source = store_factory()
    _write(source)
    kept = _read(source)
    assert kept["metadata"] == {"mean": None, "range": [None, None], "rows": 3}
    assert math.isnan(kept["attributes"]["score"]) and kept["attributes"]["bounds"] == [INF, 1.5]
    export_project(source, "p", tmp_path / "export")
    exported = list((tmp_path / "export").rglob("*.json*"))
    assert len(exported) > 3
    for path in exported:
        text = path.read_text()
        for line in text.splitlines() if path.suffix == ".jsonl" else [text]:
            _strict(line)
    target = open_store(tmp_path / "target")
    import_export(target, tmp_path / "export")
    assert _read(target) == {
        "metadata": {"mean": None, "range": [None, None], "rows": 3},
        "attributes": {"score": None, "bounds": [None, 1.5]},
    }
    target.close()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": 1.5, "b": [1, "x", None]}, '{"a": 1.5, "b": [1, "x", null]}'),
        ({"a": NAN, "b": [INF, -INF, (2.0, NAN)]}, '{"a": null, "b": [null, null, [2.0, null]]}'),
    ],
)
def test_json_text_writes_non_finite_numbers_as_null(value: Any, text: str) -> None:
    assert json_text(value) == text
    assert finite(1.0) == 1.0 and finite(NAN) is None
