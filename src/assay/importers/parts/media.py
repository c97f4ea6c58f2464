"""Rich values of runs (images, tables, histograms, plots, audio, text, html, video):
each run's values as ``media/<run>.jsonl``, the blobs they name as ``blobs/<digest>``,
each once.
Read back, a value is written with its run (runs.py), its body as it was stored, so
the target holds the same bodies naming the same blobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from assay import digests
from assay.errors import CorruptData
from assay.importers import bundle
from assay.importers.job import Exporting, Importing
from assay.importers.runs import StoredMedia, media_records
from assay.media import codec
from assay.records import Media


class MediaLine(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    step: int
    at: float
    kind: str
    body: dict[str, Any]
    blobs: list[str]


def write(ctx: Exporting, run_id: str) -> None:
    store = ctx.store
    lines = []
    for key in store.media.keys(run_id):
        for record in media_records(store, run_id, key.key):
            named = codec.blobs_named(record.kind, record.body, store.blobs.get)
            for digest in named:
                path = ctx.root / bundle.BLOBS / digest
                if not path.exists():
                    path.parent.mkdir(exist_ok=True)
                    path.write_bytes(store.blobs.get(digest))
                    ctx.counts.media_blobs += 1
            lines.append(
                MediaLine(
                    key=record.key,
                    step=record.step,
                    at=record.at,
                    kind=record.kind,
                    body=record.body,
                    blobs=named,
                )
            )
    if lines:
        (ctx.root / bundle.MEDIA).mkdir(exist_ok=True)
        path = ctx.root / bundle.MEDIA / f"{run_id}.jsonl"
        ctx.counts.media_values += bundle.write_lines(path, lines)


def lines_of(job: Importing, run_id: str) -> list[MediaLine]:
    return list(bundle.read_lines(job.root / bundle.MEDIA / f"{run_id}.jsonl", MediaLine))


def stored(job: Importing, lines: list[MediaLine]) -> list[StoredMedia]:
    """The values to write with the run; their blobs are read when written."""
    folder = job.root / bundle.BLOBS
    return [
        StoredMedia(
            op=Media(
                key=line.key,
                step=line.step,
                at=line.at,
                kind=line.kind,
                body=line.body,
                blobs=line.blobs,
            ),
            load=lambda names=line.blobs: {d: _blob(folder, d) for d in names},  # type: ignore[misc]
        )
        for line in lines
    ]


def _blob(folder: Path, digest: str) -> bytes:
    path = folder / digest
    if not path.is_file():
        raise CorruptData(f"blob {digest} is missing from the export's {bundle.BLOBS}/")
    data = path.read_bytes()
    if digests.of_bytes(data) != digest:
        raise CorruptData(f"{bundle.BLOBS}/{digest} does not hold the bytes of that digest")
    return data


def check(job: Importing, run_id: str, lines: list[MediaLine]) -> None:
    """Compare the run's stored values with the exported ones, value by value."""
    expected = {(m.key, m.step): (m.at, m.kind, m.body) for m in lines}
    there = {
        (r.key, r.step): (r.at, r.kind, r.body)
        for key in {m.key for m in lines}
        for r in media_records(job.store, run_id, key)
    }
    differ = sorted(
        {key for key, step in expected if there.get((key, step)) != expected[key, step]}
    )
    if differ:
        job.problem(f"run {run_id}: the media values of {', '.join(differ[:5])} differ")
    named = sorted({d for m in lines for d in m.blobs})
    missing = set(job.store.blobs.missing(named))
    if missing:
        job.problem(f"run {run_id}: {len(missing)} media blob(s) are missing from the target")
    job.found.media_values += sum(1 for k in expected if there.get(k) == expected[k])
    job.media_blobs.update(d for d in named if d not in missing)
