"""`assay import assay DIR`: an export folder (bundle.py) back into any store.

Runs keep their ids, times and every point (runs.py); artifact versions are uploaded from
the exported files and must come out with the digests they had; models are registered in
their version order and their alias moves replayed; evaluations are saved with their
links remapped; the other parts (parts/) follow, each checking what it wrote.
Everything is idempotent: importing the same folder twice changes
nothing. At the end, what the target holds is compared with the export, run by run and
point by point; any difference raises ImportIncomplete naming it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.parquet as pq

from assay.artifacts import transfer
from assay.errors import AssayError, CorruptData, ImportIncomplete, NotFound
from assay.importers import bundle
from assay.importers.bundle import Counts, ModelEntry
from assay.importers.export import evaluations_of
from assay.importers.job import Importing
from assay.importers.parts import alerts, labels, media, prompts, served, sweeps, traces
from assay.importers.runs import from_record, same_series, write_run
from assay.progress import track
from assay.records import (
    AliasMove,
    ArtifactDraft,
    ArtifactVersion,
    Columns,
    EvalItem,
    Evaluation,
    EvaluationDraft,
    LineageEdge,
    LogLine,
    Manifest,
    Run,
)
from assay.store.base import Store


class _ArtifactLine(msgspec.Struct, kw_only=True):
    version: ArtifactVersion
    manifest: Manifest


class _EvaluationLine(msgspec.Struct, kw_only=True):
    evaluation: Evaluation
    items: list[EvalItem]


def import_export(
    store: Store,
    folder: str | os.PathLike[str],
    project: str | None = None,
    progress: bool | None = None,
) -> Counts:
    """Import the export in ``folder`` (into ``project``, default the exported one); the
    counts found in the target afterwards. ImportIncomplete if anything is missing."""
    root = Path(folder)
    header = bundle.read_header(root)
    job = Importing(
        store=store,
        root=root,
        project=project or header.project,
        source=f"assay:{header.project}",
        progress=progress,
    )
    _import_runs(job)
    _import_artifacts(job)
    _import_lineage(job)
    _import_models(job)
    served.read(job)  # the request log before the feedback that names its entries
    _import_evaluations(job)
    labels.read(job)  # label projects and feedback
    for part in (prompts, sweeps, traces, alerts):
        part.read(job)
    job.found.media_blobs = len(job.media_blobs)
    job.found.audit_records = header.counts.audit_records  # kept in the folder, not replayed
    differences = header.counts.differences(job.found)
    if job.problems or differences:
        listed = "\n  ".join(job.problems + differences)
        raise ImportIncomplete(f"the import of {root} is incomplete:\n  {listed}")
    return job.found


# ---- runs --------------------------------------------------------------------------------


def _import_runs(job: Importing) -> None:
    runs = list(bundle.read_lines(job.root / bundle.RUNS, Run))
    with track("runs", len(runs), "runs", job.progress) as advance:
        for run in runs:
            try:
                _import_run(job, msgspec.structs.replace(run, project=job.project))
            except (AssayError, OSError) as exc:
                job.problems.append(f"run {run.id}: {exc}")
            advance(1)


def _import_run(job: Importing, run: Run) -> None:
    series = _read_points(job.root / bundle.METRICS / f"{run.id}.parquet")
    lines = list(bundle.read_lines(job.root / bundle.LOGS / f"{run.id}.jsonl", LogLine))
    values = media.lines_of(job, run.id)
    data = from_record(run, series, lines)
    data.stored = media.stored(job, values)
    write_run(job.store, data, job.source)
    media.check(job, run.id, values)
    stored = job.store.runs.history(run.id)
    differ = same_series(series, stored)
    if differ:
        job.problems.append(f"run {run.id}: the points of {', '.join(differ[:5])} differ")
    job.runs.add(run.id)
    job.found.runs += 1
    job.found.points += sum(len(c) for c in stored.values())
    job.found.log_lines += len(job.store.runs.log_lines(run.id))


def _read_points(path: Path) -> dict[str, Columns]:
    if not path.exists():
        raise CorruptData(f"{path.name} is missing from the export")
    try:
        table = pq.read_table(path, columns=["key", "step", "time", "value"])
    except Exception as exc:  # pyarrow's errors: translated at the boundary
        raise CorruptData(f"{path.name} cannot be read: {exc}") from None
    frame = table.to_pandas()
    series: dict[str, Columns] = {}
    for key, rows in frame.groupby("key", sort=False):
        series[str(key)] = Columns(
            steps=rows["step"].to_numpy("int64"),
            times=rows["time"].to_numpy("float64"),
            values=rows["value"].to_numpy("float64"),
        )
    return series


# ---- artifacts and lineage ----------------------------------------------------------------


def _import_artifacts(job: Importing) -> None:
    for line in bundle.read_lines(job.root / bundle.ARTIFACTS, _ArtifactLine):
        old = line.version
        try:
            new = _import_version(job, old, line.manifest)
        except (AssayError, OSError) as exc:
            job.problems.append(f"artifact {old.name}:v{old.version}: {exc}")
            continue
        job.versions[old.id] = new
        job.numbers[old.name, old.version] = new.version
        job.found.artifact_versions += 1
        job.found.files += len(job.store.artifacts.manifest(new.id).files)


def _import_version(job: Importing, old: ArtifactVersion, manifest: Manifest) -> ArtifactVersion:
    folder = bundle.version_folder(job.root, old.name, old.version)
    stored = [f for f in manifest.files if f.ref is None]
    sources = [transfer.Source(f.path, transfer.target_of(folder, f.path)) for f in stored]
    for source in sources:
        if not source.local.is_file():
            raise CorruptData(f"file {source.path} is missing from the export")
    refs = [f for f in manifest.files if f.ref is not None]
    uploaded = transfer.upload(job.store, sources, refs, job.progress)
    changed = [
        a.path for a, b in zip(uploaded.files, stored + refs, strict=True) if a.digest != b.digest
    ]
    if changed:
        raise CorruptData(f"files differ from the exported digests: {', '.join(changed[:5])}")
    draft = ArtifactDraft(
        project=job.project,
        name=old.name,
        type=old.type,
        manifest=Manifest(files=stored + refs),
        metadata=old.metadata,
        aliases=old.aliases,
        run_id=old.run_id if old.run_id in job.runs else None,
        description=old.description,
    )
    return job.store.artifacts.commit(draft)


def _import_lineage(job: Importing) -> None:
    for edge in bundle.read_lines(job.root / bundle.LINEAGE, LineageEdge):
        new = job.versions.get(edge.version_id)
        if new is None or edge.run_id not in job.runs:
            job.problems.append(
                f"lineage {edge.kind} {edge.run_id} -> {edge.version_id}: an end was not imported"
            )
            continue
        if edge.kind == "used":
            job.store.artifacts.record_use(edge.run_id, new.id)
    ids = [v.id for v in job.versions.values()]
    job.found.lineage_edges = len(job.store.artifacts.lineage_edges(sorted(job.runs), ids))


# ---- models --------------------------------------------------------------------------------


def _import_models(job: Importing) -> None:
    for entry in bundle.read_lines(job.root / bundle.MODELS, ModelEntry):
        try:
            _import_model(job, entry)
        except AssayError as exc:
            job.problems.append(f"model {entry.name}: {exc}")


def _import_model(job: Importing, entry: ModelEntry) -> None:
    numbers: dict[int, int] = {}  # exported version number -> the target's
    for version in entry.versions:
        new = job.versions.get(version["artifact_version_id"])
        if new is None:
            raise CorruptData(f"version {version['version']}: its artifact was not imported")
        registered = job.store.models.register(
            new.id, entry.name, description=entry.description, tags=entry.tags
        )
        numbers[version["version"]] = registered.version
        job.model_numbers[entry.name, version["version"]] = registered.version
    _replay_moves(job, entry, numbers)
    job.found.models += 1
    job.found.model_versions += len(numbers)


def _replay_moves(job: Importing, entry: ModelEntry, numbers: dict[int, int]) -> None:
    """Each exported alias move not yet in the target's history, in order."""

    def key(alias: str, version: int | None, reason: Any, evidence: Any) -> tuple[Any, ...]:
        return (alias, version, reason, evidence)

    there = [
        key(m.alias, m.version, m.reason, m.evidence)
        for m in job.store.models.alias_history(entry.name)
    ]
    replayed = 0
    for raw in entry.moves:
        move = msgspec.convert(raw, AliasMove)
        version = None if move.version is None else numbers.get(move.version)
        wanted = key(move.alias, version, move.reason, move.evidence)
        if wanted in there:
            there.remove(wanted)
        else:
            job.store.models.set_alias(
                entry.name,
                move.alias,
                version,
                reason=move.reason,
                evidence=move.evidence,
                actor=move.actor,
            )
        replayed += 1
    job.found.alias_moves += replayed


# ---- evaluations ----------------------------------------------------------------------------


def _import_evaluations(job: Importing) -> None:
    ids = job.evaluations  # exported evaluation id -> the target's (for baselines)
    for line in bundle.read_lines(job.root / bundle.EVALUATIONS, _EvaluationLine):
        old = line.evaluation
        try:
            new = _existing(job, old) or job.store.evaluations.save(_draft(job, old, line, ids))
        except AssayError as exc:
            job.problems.append(f"evaluation {old.id} ({old.name}): {exc}")
            continue
        ids[old.id] = new.id
        job.found.evaluations += 1
        job.found.eval_items += len(job.store.evaluations.items(new.id))


def _existing(job: Importing, old: Evaluation) -> Evaluation | None:
    """The same evaluation imported before (same name, model, data and report)."""
    for e in evaluations_of(job.store, job.project):
        if (e.name, e.model_key, e.dataset_digest, e.report) == (
            old.name,
            old.model_key,
            old.dataset_digest,
            old.report,
        ):
            return e
    return None


def _draft(
    job: Importing, old: Evaluation, line: _EvaluationLine, ids: dict[str, str]
) -> EvaluationDraft:
    def version(old_id: str | None) -> str | None:
        if old_id is None:
            return None
        new = job.versions.get(old_id)
        if new is None:
            raise NotFound(f"its artifact version {old_id} was not imported")
        return new.id

    return EvaluationDraft(
        project=job.project,
        name=old.name,
        model=old.model,
        model_key=old.model_key,
        model_version_id=version(old.model_version_id),
        dataset=old.dataset,
        dataset_digest=old.dataset_digest,
        dataset_version_id=version(old.dataset_version_id),
        baseline_id=ids.get(old.baseline_id) if old.baseline_id else None,
        run_id=old.run_id if old.run_id in job.runs else None,
        verdict=old.verdict,
        report=old.report,
        items=line.items,
    )
