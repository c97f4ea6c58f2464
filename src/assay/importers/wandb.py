"""`assay import wandb PATH`: W&B runs from the folders the W&B SDK writes offline (or
keeps after syncing): ``wandb/offline-run-*/run-<id>.wandb``.

Every history point keeps its step and time; config, summary, tags, notes, group, job
type, console output and system metrics (W&B's ``stats`` records, as ``system/<name>``
series: one point per sample, at its time) come along; the W&B run id names the Assay
run (``wb-<id>``). Artifacts the run logged come in as artifact versions produced by it
(wandb_artifacts.py). Images, tables, audio, histograms, html and video in the history
become ``assay.Image`` (with its masks and box layers), ``Table`` (image cells with
theirs), ``Audio``, ``Histogram``, ``Html`` and ``Video`` at their step (a list of them,
a list), their files read from the run folder's ``files/`` (wandb_media.py); other media
(3D objects, molecules, plots...) are counted and named as not imported. Records are
read from the run file itself (wandb_log.py), not from W&B's ``files/`` summaries, so
what the run logged is what arrives.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import AssayError, CorruptData, ImportIncomplete, InvalidInput
from assay.importers.runs import MediaPoint, RunData, write_checked
from assay.importers.wandb_artifacts import import_artifact, local_file
from assay.importers.wandb_log import records
from assay.importers.wandb_media import (
    KINDS,
    ClassLabels,
    Files,
    Tables,
    box_labels,
    checked,
    mask_labels,
    value_of,
)
from assay.media.codec import Logged
from assay.progress import track
from assay.records import Columns, LogLine
from assay.store.base import Store
from assay.values import finite

_RESERVED = ("_step", "_timestamp", "_runtime")
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,29}")


@dataclass(kw_only=True)
class WandbImport:
    runs: int = 0
    points: int = 0
    files: int = 0  # files of artifacts, and of runs read from a W&B server (wandb_api.py)
    artifact_versions: int = 0  # W&B artifacts the runs logged
    media: int = 0  # images, tables, audio, histograms, html, video of the runs' histories
    skipped: Counter[str] = field(default_factory=Counter)  # kind -> values not imported


@dataclass
class _Run:
    """What the records of one run file say, as they are read."""

    data: RunData | None = None
    wandb_id: str = ""
    points: dict[str, dict[int, tuple[float, float]]] = field(default_factory=dict)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)  # stream -> unfinished line
    lines: list[LogLine] = field(default_factory=list)
    last_time: float = 0.0
    exit_code: int | None = None
    runtime: float = 0.0
    artifacts: list[Any] = field(default_factory=list)  # W&B ``ArtifactRecord``s
    folder: Path = Path()  # the run's folder (its media files are under files/)
    mask_labels: ClassLabels = field(default_factory=dict)  # from W&B's ``_wandb`` config
    box_labels: ClassLabels = field(default_factory=dict)  # the same, of box layers
    media: dict[tuple[str, int], tuple[float, dict[str, Any]]] = field(
        default_factory=dict
    )  # (key, step) -> time, the value as W&B recorded it


def run_files(path: Path) -> list[Path]:
    """The W&B run files at ``path``: a ``.wandb`` file, or every one under a folder."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInput(f"{path} is neither a W&B run file nor a folder")
    found = sorted(path.rglob("run-*.wandb"))
    if not found:
        raise InvalidInput(f"{path} holds no W&B run files (wandb/offline-run-*/run-*.wandb)")
    return found


def import_wandb(
    store: Store,
    path: str | os.PathLike[str],
    project: str | None = None,
    progress: bool | None = None,
) -> WandbImport:
    """Import every W&B run file under ``path`` (into ``project``, default each run's
    W&B project); ImportIncomplete listing any run that did not come in whole."""
    files = run_files(Path(path))
    done = WandbImport()
    problems: list[str] = []
    with track("runs", len(files), "runs", progress) as advance:
        for file in files:
            try:
                _import_file(store, file, project, done)
            except (AssayError, OSError) as exc:
                problems.append(f"{file.parent.name}/{file.name}: {exc}")
            advance(1)
    if problems:
        listed = "\n  ".join(problems + not_imported(done.skipped))
        raise ImportIncomplete(f"the import of {path} is incomplete:\n  {listed}")
    return done


def not_imported(skipped: Counter[str]) -> list[str]:
    """What was counted and left out, a line per kind (``not imported: 1 history
    object3D-file values``): printed after an import, and listed by an incomplete one."""
    return [
        f"not imported: {count} {kind}{' values' if kind.startswith('history ') else ''}"
        for kind, count in sorted(skipped.items())
    ]


def _import_file(store: Store, file: Path, project: str | None, done: WandbImport) -> None:
    run = _Run(folder=file.parent)
    for record in records(file):
        _apply(run, record, project, done.skipped)
    if run.data is None:
        raise CorruptData("it holds no run record (the run never started)")
    data = _finish(run, done.skipped)
    write_checked(store, data, f"wandb:{data.project}/{run.wandb_id}")
    done.runs += 1
    done.points += data.points
    done.media += len(data.media)
    for artifact in run.artifacts:
        version = import_artifact(store, artifact, data.project, data.id)
        done.artifact_versions += 1
        done.files += version.file_count


def _apply(run: _Run, record: Any, project: str | None, skipped: Counter[str]) -> None:
    kind = record.WhichOneof("record_type")
    if kind == "run":
        _start(run, record.run, project)
        _own_config(run, record.run.config.update)
    elif kind == "config" and run.data is not None:
        run.data.config.update(finite(_updates(record.config.update)))
        _own_config(run, record.config.update)
    elif kind == "history":
        _history(run, record.history.item, skipped)
    elif kind == "summary":
        run.summary.update(_updates(record.summary.update))
    elif kind == "output_raw":
        _output(run, record.output_raw)
    elif kind == "stats":
        _stats(run, record.stats)
    elif kind == "exit":
        run.exit_code, run.runtime = record.exit.exit_code, float(record.exit.runtime)
    elif kind == "artifact":
        run.artifacts.append(record.artifact)


def _own_config(run: _Run, items: Any) -> None:
    """What W&B keeps of its own in the config (``_wandb``): the class names of masks
    and of box layers."""
    for item in items:
        path = [item.key] if item.key else list(item.nested_key)
        if path[0] == "_wandb":
            value = json.loads(item.value_json)
            for part in reversed(path[1:]):  # a nested update: the value at its path
                value = {part: value}
            run.mask_labels.update(mask_labels(value))
            run.box_labels.update(box_labels(value))


def _start(run: _Run, record: Any, project: str | None) -> None:
    start = record.start_time.seconds + record.start_time.nanos / 1e9
    run.wandb_id = record.run_id
    origin = "/".join(p for p in (record.entity, record.project, record.run_id) if p)
    run.data = RunData(
        id=assay_id(record.run_id, origin),
        project=project or record.project or "wandb",
        name=record.display_name or record.run_id,
        created_at=start,
        config=finite(_updates(record.config.update)),
        tags=list(record.tags),
        notes=record.notes or None,
        group=record.run_group or None,
        job_type=record.job_type or None,
        host={"hostname": record.host, "imported_from": f"wandb:{origin}"},
    )
    run.last_time = start


def assay_id(wandb_id: str, origin: str) -> str:
    if _SAFE_ID.fullmatch(wandb_id):
        return f"wb-{wandb_id}"
    from assay import digests

    return "wb-" + digests.of_bytes(origin.encode())[:29]


def _updates(items: Any) -> dict[str, Any]:
    """Config or summary updates as a dict, nested values nested again (W&B sends them
    flattened by path); W&B's own ``_wandb`` bookkeeping and ``_step``... left out."""
    out: dict[str, Any] = {}
    for item in items:
        path = [item.key] if item.key else list(item.nested_key)
        if path[0].startswith("_"):
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = json.loads(item.value_json)
    return out


def _history(run: _Run, items: Any, skipped: Counter[str]) -> None:
    """One logged row. W&B flattens a nested value into items keyed by its path
    (``["sample", "_type"]``): a path ending in ``_type`` marks a media value (kept whole,
    built once the run is read); other nested numbers become ``outer/inner`` keys."""
    row: dict[tuple[str, ...], Any] = {}
    for item in items:
        path = (item.key,) if item.key else tuple(item.nested_key)
        row[path] = json.loads(item.value_json)
    marked = sorted(p[:-1] for p in row if len(p) > 1 and p[-1] == "_type")
    media: list[tuple[str, ...]] = []
    for path in marked:  # a value's own parts (an image's masks) are not values of their own
        if not any(path[: len(m)] == m for m in media):
            media.append(path)
    step = int(row.get(("_step",), 0))
    at = float(row.get(("_timestamp",), run.last_time))
    run.last_time = max(run.last_time, at)
    for prefix in media:
        spec: dict[str, Any] = {}
        for path, value in row.items():
            if path[: len(prefix)] == prefix:
                node = spec
                for part in path[len(prefix) : -1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = value
        kind = str(spec["_type"])
        if kind in KINDS:
            run.media["/".join(prefix), step] = (at, spec)
        else:
            skipped[f"history {kind}"] += 1
    for path, value in row.items():
        key = "/".join(path)
        if key in _RESERVED or any(path[: len(m)] == m for m in media):
            continue
        if isinstance(value, bool | int | float):
            run.points.setdefault(key, {})[step] = (at, float(value))
        else:
            kind = value.get("_type", "object") if isinstance(value, dict) else type(value).__name__
            skipped[f"history {kind}"] += 1


def _output(run: _Run, output: Any) -> None:
    stream = "stdout" if output.output_type == 1 else "stderr"
    at = output.timestamp.seconds + output.timestamp.nanos / 1e9
    text = run.text.get(stream, "") + output.line
    *complete, rest = text.split("\n")
    run.lines.extend(LogLine(at=at, stream=stream, text=line) for line in complete)
    run.text[stream] = rest


def _stats(run: _Run, stats: Any) -> None:
    at = stats.timestamp.seconds + stats.timestamp.nanos / 1e9
    for item in stats.item:
        value = json.loads(item.value_json)
        if isinstance(value, bool | int | float):
            run.samples.setdefault(f"system/{item.key}", []).append((at, float(value)))


def _finish(run: _Run, skipped: Counter[str]) -> RunData:
    data = run.data
    assert data is not None
    data.series = {key: columns(points) for key, points in run.points.items()}
    for key, samples in run.samples.items():
        data.series.setdefault(key, sampled(samples))
    data.log_lines = run.lines + [
        LogLine(at=run.last_time, stream=s, text=t) for s, t in run.text.items() if t
    ]
    data.summary = finite(summary_kept(run.summary, data.series))
    data.media = _media(run, skipped)
    end = max(run.last_time, data.created_at + run.runtime)
    data.heartbeat_at = data.finished_at = end
    if run.exit_code is None:
        data.status = "crashed"  # the file ends before the run did
    else:
        data.status = "finished" if run.exit_code == 0 else "failed"
    return data


def _media(run: _Run, skipped: Counter[str]) -> list[MediaPoint]:
    """The run's media values, each read from its files (and checked) now, before any of
    the run is written: a missing file fails the run, never half of it."""
    files = files_under(run.folder / "files")
    by_client = {a.client_id: a for a in run.artifacts if a.client_id}

    def tables(artifact_path: str) -> tuple[dict[str, Any], Files] | None:
        return _run_table(by_client, artifact_path)

    points = []
    for (key, step), (at, spec) in sorted(run.media.items()):
        point = media_point(
            key,
            step,
            at,
            spec,
            files=files,
            tables=tables,
            skipped=skipped,
            labels=run.mask_labels.get(key, {}),
            box_labels=run.box_labels.get(key, {}),
        )
        points.append(point)
    return points


def media_point(
    key: str,
    step: int,
    at: float,
    spec: dict[str, Any],
    *,
    files: Files,
    tables: Tables,
    skipped: Counter[str],
    labels: dict[str, dict[int, str]],
    box_labels: dict[str, dict[int, str]] | None = None,
) -> MediaPoint:
    """The W&B media value ``spec`` (a KINDS kind) at ``step`` as a MediaPoint. Its files
    are read and checked now, before any of the run is written, and read again when its
    batch is (so a run's images are not all held at once)."""
    kind = str(spec["_type"])

    def make(counted: Counter[str]) -> Logged:
        try:
            return value_of(
                kind, spec, files, tables, counted, mask_labels=labels, box_labels=box_labels
            )
        except (CorruptData, InvalidInput) as exc:
            raise CorruptData(f"{kind} {key!r} at step {step}: {exc}") from None

    make(skipped)
    return MediaPoint(key=key, step=step, at=at, kind=KINDS[kind], make=lambda: make(Counter()))


def files_under(root: Path) -> Files:
    """W&B's run files as they lie under ``root``, each checked against W&B's SHA-256."""

    def files(name: str, sha256: str | None) -> Path:
        return checked(root / name, name, sha256)

    return files


_CLIENT_ARTIFACT = "wandb-client-artifact://"


def _run_table(
    by_client: dict[str, Any], artifact_path: str
) -> tuple[dict[str, Any], Files] | None:
    """A table as W&B stored it in its run-table artifact (with its image cells), named
    by the history value's ``wandb-client-artifact://<client id>/<file>``."""
    if not artifact_path.startswith(_CLIENT_ARTIFACT):
        return None
    client, _, name = artifact_path.removeprefix(_CLIENT_ARTIFACT).partition("/")
    record = by_client.get(client.split(":", 1)[0])
    if record is None:
        return None
    entries = {e.path: e for e in record.manifest.contents if not e.ref}

    def files(path: str, sha256: str | None) -> Path:
        entry = entries.get(path)
        if entry is None:
            raise CorruptData(f"W&B artifact {record.name} holds no file {path}")
        return checked(local_file(record, entry), path, sha256)

    try:
        body = json.loads(files(name, None).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        what = f"W&B table {name} of artifact {record.name}"
        raise CorruptData(f"{what} is not JSON: {exc}") from None
    return body, files


def summary_kept(summary: dict[str, Any], series: dict[str, Columns]) -> dict[str, Any]:
    """The summary values the run's points do not already say: not W&B's own ``_``
    keys, not media values, not the last point of a series."""
    last = {key: c.values[-1] for key, c in series.items() if len(c)}
    return {
        k: v
        for k, v in summary.items()
        if not k.startswith("_")
        and not _same(last.get(k), v)
        and not (isinstance(v, dict) and "_type" in v)
    }


def _same(last: Any, value: Any) -> bool:
    if last is None or not isinstance(value, int | float):
        return False
    return bool(last == value or (math.isnan(last) and math.isnan(float(value))))


def columns(points: dict[int, tuple[float, float]]) -> Columns:
    steps = sorted(points)
    return Columns(
        steps=np.array(steps, dtype=np.int64),
        times=np.array([points[s][0] for s in steps], dtype=np.float64),
        values=np.array([points[s][1] for s in steps], dtype=np.float64),
    )


def sampled(samples: list[tuple[float, float]]) -> Columns:
    """System samples as a series: one point per sample, numbered in order."""
    return Columns(
        steps=np.arange(len(samples), dtype=np.int64),
        times=np.array([t for t, _ in samples], dtype=np.float64),
        values=np.array([v for _, v in samples], dtype=np.float64),
    )
