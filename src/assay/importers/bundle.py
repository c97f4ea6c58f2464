"""The layout of an export folder: what `assay export` writes and `assay import assay`
reads. Every file is an open format a reader needs no Assay for:

    assay-export.json        format, project, when, and the counts of everything below
    runs.jsonl               one run per line (config, summary, tags, notes, times, status)
    metrics/<run>.parquet    every point of the run: key, step, time, value
    logs/<run>.jsonl         captured console lines: at, stream, text
    artifacts.jsonl          one artifact version per line, with its manifest
    files/<name>/v<N>/...    each artifact version's stored files (identical files linked)
    lineage.jsonl            which run used or produced which artifact version
    models.jsonl             registered models: versions and every alias move
    evaluations.jsonl        evaluation reports, each with its per-item results
    audit.jsonl              the audit records about the project (SQL stores)
    media/<run>.jsonl        the run's rich values (images, tables, histograms, plots,
                             audio, text, html, video): key, step, at, kind, body, the
                             blobs it names
    blobs/<digest>           each blob a rich value names, once (BLAKE3 of its bytes)
    traces.jsonl             one trace per line, with all its spans
    trace_feedback.jsonl     feedback on traces and spans
    prompt_labels.jsonl      every move of every prompt label (versions are artifacts)
    sweeps.jsonl             one sweep per line, with its trials
    label_projects.jsonl     one label project per line: items, every annotator's turn,
                             and the consensus of its done labels when it has one
    feedback.jsonl           feedback on served predictions and evaluation items
    requests/<model>.jsonl   the request log of each registered model of the project
    traffic.jsonl            every traffic policy change of the project's models
    alerts.jsonl             incidents of the project's monitors' alert rules
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from assay.errors import CorruptData

FORMAT = "assay-export/1"
MANIFEST = "assay-export.json"
RUNS = "runs.jsonl"
METRICS = "metrics"
LOGS = "logs"
ARTIFACTS = "artifacts.jsonl"
FILES = "files"
LINEAGE = "lineage.jsonl"
MODELS = "models.jsonl"
EVALUATIONS = "evaluations.jsonl"
AUDIT = "audit.jsonl"
MEDIA = "media"
BLOBS = "blobs"
TRACES = "traces.jsonl"
TRACE_FEEDBACK = "trace_feedback.jsonl"
PROMPT_LABELS = "prompt_labels.jsonl"
SWEEPS = "sweeps.jsonl"
LABEL_PROJECTS = "label_projects.jsonl"
FEEDBACK = "feedback.jsonl"
REQUESTS = "requests"
TRAFFIC = "traffic.jsonl"
ALERTS = "alerts.jsonl"

T = TypeVar("T")


class Counts(msgspec.Struct, kw_only=True):
    """How much of each kind a project holds; an import is checked against these."""

    runs: int = 0
    points: int = 0
    log_lines: int = 0
    artifact_versions: int = 0
    files: int = 0
    lineage_edges: int = 0
    models: int = 0
    model_versions: int = 0
    alias_moves: int = 0
    evaluations: int = 0
    eval_items: int = 0
    audit_records: int = 0
    media_values: int = 0
    media_blobs: int = 0
    traces: int = 0
    spans: int = 0
    trace_feedback: int = 0
    prompt_label_moves: int = 0
    sweeps: int = 0
    trials: int = 0
    label_projects: int = 0
    label_items: int = 0
    labels_done: int = 0
    feedback: int = 0
    requests: int = 0
    traffic_changes: int = 0
    alerts: int = 0

    def differences(self, other: Counts) -> list[str]:
        """``kind: expected N, found M`` for each kind that differs."""
        mine, theirs = msgspec.structs.asdict(self), msgspec.structs.asdict(other)
        return [
            f"{kind}: expected {mine[kind]}, found {theirs[kind]}"
            for kind in mine
            if kind != "audit_records" and mine[kind] != theirs[kind]
        ]


class Header(msgspec.Struct, kw_only=True):
    format: str
    project: str
    exported_at: float
    assay_version: str
    counts: Counts
    notes: list[str] = []


class ModelEntry(msgspec.Struct, kw_only=True):
    """A registered model as exported: its versions name artifact versions by id."""

    name: str
    description: str | None
    tags: dict[str, str]
    versions: list[dict[str, Any]]  # version, artifact_version_id, description
    aliases: dict[str, int]
    moves: list[dict[str, Any]]  # AliasMove fields, oldest first


def write_lines(path: Path, records: Iterable[Any]) -> int:
    encoder = msgspec.json.Encoder()
    count = 0
    with path.open("wb") as out:
        for record in records:
            out.write(encoder.encode(record))
            out.write(b"\n")
            count += 1
    return count


def read_lines(path: Path, type: type[T]) -> Iterator[T]:
    """Each line of a JSON Lines file as ``type``; a bad line names the file and line."""
    if not path.exists():
        return
    decoder = msgspec.json.Decoder(type)
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield decoder.decode(line)
            except msgspec.ValidationError as exc:
                raise CorruptData(f"{path.name} line {number}: {exc}") from None
            except msgspec.DecodeError as exc:
                raise CorruptData(f"{path.name} line {number} is not JSON: {exc}") from None


def read_header(root: Path) -> Header:
    path = root / MANIFEST
    if not path.is_file():
        raise CorruptData(f"{root} is not an Assay export: it has no {MANIFEST}")
    try:
        header = msgspec.json.decode(path.read_bytes(), type=Header)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CorruptData(f"{path}: {exc}") from None
    if header.format != FORMAT:
        raise CorruptData(
            f"{path}: format {header.format!r} is not one this Assay reads ({FORMAT})"
        )
    return header


def version_folder(root: Path, name: str, version: int) -> Path:
    return root / FILES / name / f"v{version}"
