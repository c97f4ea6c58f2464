"""`assay import tensorboard LOGDIR`: every scalar point of every run, no sampling.

A run is a folder holding event files (``events.out.tfevents.*``), named by its path
under LOGDIR; several files in one folder (a restarted job) are read in order and make
one run. Event files are read with TensorBoard's own record reader and protocol
buffers, not its ``EventAccumulator``, which keeps only a sample of 10,000 points per
tag. Where a tag has two values at one step (a job that restarted from a checkpoint),
the later one is kept, as Assay keeps the last write of a step. Histograms, images,
audio and text are counted and named as not imported.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay import digests
from assay.errors import AssayError, CorruptData, ImportIncomplete, InvalidInput
from assay.extras import need
from assay.importers.runs import RunData, same_series, write_run
from assay.progress import track
from assay.records import Columns
from assay.store.base import Store

EVENTS = "tfevents"


@dataclass(kw_only=True)
class TensorBoardImport:
    """What an import brought in, and what it did not."""

    runs: int = 0
    points: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # plugin -> values not imported


@dataclass
class _Series:
    points: dict[int, tuple[float, float]] = field(default_factory=dict)  # step -> (time, v)

    def columns(self) -> Columns:
        steps = np.array(sorted(self.points), dtype=np.int64)
        pairs = [self.points[int(s)] for s in steps]
        return Columns(
            steps=steps,
            times=np.array([t for t, _ in pairs], dtype=np.float64),
            values=np.array([v for _, v in pairs], dtype=np.float64),
        )


def run_folders(logdir: Path) -> list[Path]:
    """Every folder under ``logdir`` (itself included) that holds an event file."""
    if not logdir.is_dir():
        raise InvalidInput(f"{logdir} is not a folder of TensorBoard event files")
    found = sorted({p.parent for p in logdir.rglob(f"*{EVENTS}*") if p.is_file()})
    if not found:
        raise InvalidInput(f"{logdir} holds no TensorBoard event files (events.out.tfevents.*)")
    return found


def import_tensorboard(
    store: Store,
    logdir: str | os.PathLike[str],
    project: str | None = None,
    progress: bool | None = None,
) -> TensorBoardImport:
    """Import every run under ``logdir`` into ``project`` (default: LOGDIR's name)."""
    need("tensorboard", "importers")
    root = Path(logdir).resolve()
    folders = run_folders(root)
    target = project or root.name
    done = TensorBoardImport()
    problems: list[str] = []
    with track("runs", len(folders), "runs", progress) as advance:
        for folder in folders:
            name = folder.relative_to(root).as_posix() if folder != root else root.name
            try:
                _import_run(store, folder, name, target, done)
            except (AssayError, OSError) as exc:
                problems.append(f"run {name}: {exc}")
            advance(1)
    if problems:
        listed = "\n  ".join(problems)
        raise ImportIncomplete(f"the import of {root} is incomplete:\n  {listed}")
    return done


def _import_run(
    store: Store, folder: Path, name: str, project: str, done: TensorBoardImport
) -> None:
    files = sorted(p for p in folder.iterdir() if EVENTS in p.name and p.is_file())
    series: dict[str, _Series] = {}
    times: list[float] = []
    for path in files:
        _read(path, series, times, done.skipped)
    if not times:
        raise CorruptData(f"{files[0].name} holds no events")
    read = {tag: s.columns() for tag, s in series.items()}
    run_id = "tb-" + digests.of_bytes(f"{name}\0{files[0].name}".encode())[:24]
    data = RunData(
        id=run_id,
        project=project,
        name=name,
        created_at=min(times),
        finished_at=max(times),
        heartbeat_at=max(times),
        host={"imported_from": f"tensorboard:{folder.name}"},
        series=read,
    )
    write_run(store, data, f"tensorboard:{name}")
    differ = same_series(read, store.runs.history(run_id))
    if differ:
        raise ImportIncomplete(f"the points of {', '.join(differ[:5])} differ after the import")
    done.runs += 1
    done.points += data.points


def _read(
    path: Path, series: dict[str, _Series], times: list[float], skipped: Counter[str]
) -> None:
    for event in _events(path):
        times.append(event.wall_time)
        if event.WhichOneof("what") != "summary":
            continue
        for value in event.summary.value:
            number = _scalar(value, skipped)
            if number is not None:
                points = series.setdefault(_key(value.tag), _Series()).points
                points[int(event.step)] = (event.wall_time, number)


def _events(path: Path) -> Iterator[Any]:
    """Every event of the file, each record's checksums checked. TensorBoard's own
    ``EventFileLoader`` stops quietly at a damaged or truncated record (it expects a live
    writer to finish it), which would import part of a run: its record reader is used
    directly, and a damaged record fails the run, named."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    reader = pywrap_tensorflow.PyRecordReader_New(str(path))
    count = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return
        except errors.DataLossError as exc:
            raise CorruptData(f"{path.name}, after record {count}: {exc.message}") from None
        try:
            yield Event.FromString(reader.record())
        except Exception as exc:  # protobuf's DecodeError: translated here
            raise CorruptData(f"{path.name}, record {count + 1}: {exc}") from None
        count += 1


def _scalar(value: Any, skipped: Counter[str]) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    plugin = value.metadata.plugin_data.plugin_name
    if kind == "tensor" and plugin == "scalars":
        from tensorboard.util import tensor_util

        return float(tensor_util.make_ndarray(value.tensor).item())
    skipped[plugin or kind or "unknown"] += 1
    return None


def _key(tag: str) -> str:
    """A TensorBoard tag as a metric key (empty namespace parts dropped)."""
    return "/".join(part for part in tag.split("/") if part) or "value"
