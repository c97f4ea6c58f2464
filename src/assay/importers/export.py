"""`assay export PROJECT --to DIR`: everything of a project as open files (bundle.py):
runs with their points, logs and rich values, artifacts (prompt versions among them),
lineage, models, evaluations and audit records here; traces, prompt labels, sweeps,
label projects and feedback, request logs and traffic, and alerts in parts/.

The folder is written next to its destination and renamed into place at the end, so an
export that fails leaves nothing behind that looks whole."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from assay._version import __version__
from assay.artifacts import transfer
from assay.errors import InvalidInput
from assay.importers import bundle
from assay.importers.bundle import Counts, Header, ModelEntry
from assay.importers.job import Exporting
from assay.importers.parts import alerts, labels, media, prompts, served, sweeps, traces
from assay.progress import track
from assay.records import ArtifactVersion, Columns, Evaluation, Manifest, Run
from assay.store.base import Store

PAGE = 1000  # runs read per query


def export_project(
    store: Store, project: str, dest: str | os.PathLike[str], progress: bool | None = None
) -> Counts:
    """Write ``project`` of ``store`` into the new folder ``dest``; what was written."""
    final = Path(dest)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise InvalidInput(f"{final} already exists and is not an empty folder")
    if project not in {p.name for p in store.runs.projects()} and not store.artifacts.list(project):
        raise InvalidInput(f"project {project!r} has no runs and no artifacts to export")
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        header = _write(store, project, partial, progress)
        (partial / bundle.MANIFEST).write_bytes(msgspec.json.format(msgspec.json.encode(header)))
        if final.exists():
            final.rmdir()
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return header.counts


def _write(store: Store, project: str, root: Path, progress: bool | None) -> Header:
    counts = Counts()
    notes: list[str] = []
    runs = list(_runs(store, project))
    ctx = Exporting(store=store, project=project, root=root, counts=counts, runs=runs)
    _write_runs(ctx, progress)
    versions = _write_artifacts(store, project, root, counts, progress)
    edges = store.artifacts.lineage_edges([r.id for r in runs], [v.id for v in versions])
    counts.lineage_edges = bundle.write_lines(root / bundle.LINEAGE, edges)
    models = _models(store, project)
    bundle.write_lines(root / bundle.MODELS, models)
    counts.models = len(models)
    counts.model_versions = sum(len(m.versions) for m in models)
    counts.alias_moves = sum(len(m.moves) for m in models)
    evaluations = _evaluations(store, project)
    counts.evaluations = bundle.write_lines(root / bundle.EVALUATIONS, evaluations)
    counts.eval_items = sum(len(e["items"]) for e in evaluations)
    ctx.versions, ctx.models = versions, [m.name for m in models]
    for part in (traces, prompts, sweeps, labels, served, alerts):
        part.write(ctx)
    targets = _audit_targets(project, runs, models, evaluations)
    counts.audit_records = _write_audit(store, targets, project, root, notes)
    return Header(
        format=bundle.FORMAT,
        project=project,
        exported_at=time.time(),
        assay_version=__version__,
        counts=counts,
        notes=notes,
    )


def _runs(store: Store, project: str) -> Iterator[Run]:
    offset = 0
    while page := store.runs.list(project, order_by=["created", "id"], limit=PAGE, offset=offset):
        yield from page
        offset += len(page)


def _write_runs(ctx: Exporting, progress: bool | None) -> None:
    store, runs, root, counts = ctx.store, ctx.runs, ctx.root, ctx.counts
    (root / bundle.METRICS).mkdir()
    (root / bundle.LOGS).mkdir()
    counts.runs = bundle.write_lines(root / bundle.RUNS, runs)
    with track("runs", len(runs), "runs", progress) as advance:
        for run in runs:
            series = store.runs.history(run.id)
            counts.points += sum(len(c) for c in series.values())
            pq.write_table(_points_table(series), root / bundle.METRICS / f"{run.id}.parquet")
            lines = store.runs.log_lines(run.id)
            counts.log_lines += bundle.write_lines(root / bundle.LOGS / f"{run.id}.jsonl", lines)
            media.write(ctx, run.id)
            advance(1)


def _points_table(series: dict[str, Columns]) -> pa.Table:
    keys = [k for k, c in series.items() for _ in range(len(c))]
    parts = list(series.values())
    return pa.table(
        {
            "key": pa.array(keys, pa.string()),
            "step": pa.array(_concat([c.steps for c in parts], "int64"), pa.int64()),
            "time": pa.array(_concat([c.times for c in parts], "float64"), pa.float64()),
            "value": pa.array(_concat([c.values for c in parts], "float64"), pa.float64()),
        }
    )


def _concat(arrays: list[Any], dtype: str) -> Any:
    import numpy as np

    return np.concatenate(arrays) if arrays else np.array([], dtype=dtype)


def _write_artifacts(
    store: Store, project: str, root: Path, counts: Counts, progress: bool | None
) -> list[ArtifactVersion]:
    versions = [
        v
        for info in store.artifacts.list(project)
        for v in sorted(store.artifacts.versions(project, info.name), key=lambda v: v.version)
    ]
    seen: dict[str, Path] = {}  # file digest -> a file already written (linked, not copied)
    lines = []
    for version in versions:
        manifest = store.artifacts.manifest(version.id)
        folder = bundle.version_folder(root, version.name, version.version)
        _write_files(store, manifest, folder, seen, progress)
        counts.files += len(manifest.files)
        lines.append({"version": version, "manifest": manifest})
    counts.artifact_versions = bundle.write_lines(root / bundle.ARTIFACTS, lines)
    return versions


def _write_files(
    store: Store, manifest: Manifest, folder: Path, seen: dict[str, Path], progress: bool | None
) -> None:
    stored = [f for f in manifest.files if f.ref is None]
    fresh = []
    for entry in stored:
        target = transfer.target_of(folder, entry.path)
        if entry.digest in seen:
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(seen[entry.digest], target)
        else:
            fresh.append(entry)
            seen[entry.digest] = target
    transfer.download(store, Manifest(files=fresh), folder, progress)
    folder.mkdir(parents=True, exist_ok=True)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def _models(store: Store, project: str) -> list[ModelEntry]:
    entries = []
    for model in store.models.list(project):
        versions = sorted(store.models.versions(model.name), key=lambda v: v.version)
        moves = sorted(store.models.alias_history(model.name), key=lambda m: m.at)
        entries.append(
            ModelEntry(
                name=model.name,
                description=model.description,
                tags=model.tags,
                versions=[
                    {
                        "version": v.version,
                        "artifact_version_id": v.artifact.id,
                        "description": v.description,
                        "created_at": v.created_at,
                        "created_by": v.created_by,
                    }
                    for v in versions
                ],
                aliases=model.aliases,
                moves=[msgspec.to_builtins(m) for m in moves],
            )
        )
    return entries


def evaluations_of(store: Store, project: str) -> list[Evaluation]:
    """Every evaluation of the project, oldest first (a baseline before those it judges)."""
    found: list[Evaluation] = []
    while page := store.evaluations.list(project=project, limit=PAGE, offset=len(found)):
        found.extend(page)
    return found[::-1]


def _evaluations(store: Store, project: str) -> list[dict[str, Any]]:
    found = evaluations_of(store, project)
    return [
        {"evaluation": e, "items": msgspec.to_builtins(store.evaluations.items(e.id))}
        for e in found
    ]


def _audit_targets(
    project: str, runs: list[Run], models: list[ModelEntry], evaluations: list[dict[str, Any]]
) -> tuple[set[str], tuple[str, ...]]:
    exact = {f"run:{r.id}" for r in runs} | {
        f"evaluation:{e['evaluation'].id}" for e in evaluations
    }
    models_of = (p for m in models for p in (f"model:{m.name}/", f"model:{m.name}@"))
    prefixes = (f"artifact:{project}/", *models_of)
    return exact, prefixes


def _write_audit(
    store: Store,
    targets: tuple[set[str], tuple[str, ...]],
    project: str,
    root: Path,
    notes: list[str],
) -> int:
    from assay.store.sql import audit
    from assay.store.sql.store import SqlStore

    if not isinstance(store, SqlStore):
        notes.append(
            "audit records are read from the database itself: export from a "
            "database URI (not a server) to include them"
        )
        return 0
    exact, prefixes = targets
    about = [
        r
        for r in audit.records(store.engine)
        if r.target in exact or r.target.startswith(prefixes) or r.target == f"project:{project}"
    ]
    return bundle.write_lines(root / bundle.AUDIT, [r.__dict__ for r in about])
