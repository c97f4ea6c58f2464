"""`assay import tensorboard LOGDIR`: every scalar point of every run, no sampling, and
histograms, images and text as Assay media at their steps.

A run is a folder holding event files (``events.out.tfevents.*``), named by its path
under LOGDIR; several files in one folder (a restarted job) are read in order and make
one run. Event files are read with TensorBoard's own record reader and protocol
buffers, not its ``EventAccumulator``, which keeps only a sample of 10,000 points per
tag (and fewer of histograms and images). Where a tag has two values at one step (a job
that restarted from a checkpoint), the later one is kept, as Assay keeps the last write
of a step.

Histograms (``HistogramProto`` or the histogram plugin's ``[k, 3]`` tensor) become
``assay.Histogram`` with their bucket counts; edges as TensorBoard itself reads them
(the first bucket starts at the histogram's min, the last ends at its max). One of more
than 512 buckets (TensorFlow's default buckets number ~1,500, mostly empty) has each run
of adjacent empty buckets made one empty bucket: every non-empty bucket keeps its edges
and count. Images
(``Summary.Image`` or the image plugin's tensor) become ``assay.Image`` with the same
pixels; text becomes ``assay.Text`` (a tensor of several strings, a list of them, in
order). Audio (``Summary.Audio`` or the audio plugin's tensor of WAV clips) becomes
``assay.Audio`` with the same samples and sample rate; a PR curve (the pr_curves
plugin's ``[6, n]`` tensor) becomes an ``assay.Table`` with one row per threshold
(threshold, precision, recall, TP, FP, TN, FN; thresholds evenly spaced over [0, 1], as
TensorBoard draws them). Every value keeps its step and wall time. Meshes, hparams and
other plugins' values are counted and named as not imported.
"""

from __future__ import annotations

import io
import os
import wave
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assay import digests
from assay.errors import AssayError, CorruptData, ImportIncomplete, InvalidInput
from assay.extras import need
from assay.importers.runs import MediaPoint, RunData, write_checked
from assay.media import Audio, Histogram, Image, Table, Text, pixels
from assay.media.codec import Logged
from assay.media.histogram import MAX_BINS
from assay.progress import track
from assay.records import Columns
from assay.store.base import Store

EVENTS = "tfevents"
# an event value's field, named as TensorBoard's plugins name what it holds
_KINDS = {"histo": "histograms", "image": "images", "audio": "audio", "tensor": "tensors"}
_AS_MEDIA = {
    "histograms": "histogram",
    "images": "image",
    "text": "text",
    "audio": "audio",
    "pr_curves": "table",
}
PR_COLUMNS = ["threshold", "precision", "recall", "TP", "FP", "TN", "FN"]


@dataclass(kw_only=True)
class TensorBoardImport:
    """What an import brought in, and what it did not."""

    runs: int = 0
    points: int = 0
    media: int = 0  # histograms, images, texts, audio and PR curves, each at its step
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


@dataclass
class _Read:
    """What a run's event files hold, as they are read."""

    series: dict[str, _Series] = field(default_factory=dict)
    media: dict[tuple[str, int], MediaPoint] = field(default_factory=dict)  # (key, step) ->
    times: list[float] = field(default_factory=list)


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
    run = _Read()
    skipped: Counter[str] = Counter()
    for path in files:
        _read(path, run, skipped)
    if not run.times:
        raise CorruptData(f"{files[0].name} holds no events")
    read = {tag: s.columns() for tag, s in run.series.items()}
    media = sorted(run.media.values(), key=lambda m: (m.key, m.step))
    times = run.times
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
        media=media,
    )
    write_checked(store, data, f"tensorboard:{name}")
    done.runs += 1
    done.points += data.points
    done.media += len(media)
    done.skipped.update(skipped)


def _read(path: Path, run: _Read, skipped: Counter[str]) -> None:
    for event in _events(path):
        run.times.append(event.wall_time)
        if event.WhichOneof("what") != "summary":
            continue
        step, at = int(event.step), float(event.wall_time)
        for value in event.summary.value:
            number = _scalar(value)
            if number is not None:
                points = run.series.setdefault(_key(value.tag), _Series()).points
                points[step] = (at, number)
                continue
            plugin = _plugin(value)
            made = _media(value, plugin, f"{path.name}, {value.tag!r} at step {step}", skipped)
            if made is not None:
                key = _key(value.tag)
                kind = _AS_MEDIA[plugin]
                run.media[key, step] = MediaPoint(key=key, step=step, at=at, kind=kind, make=made)
            elif plugin not in _AS_MEDIA:
                skipped[plugin] += 1


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


def _scalar(value: Any) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor" and value.metadata.plugin_data.plugin_name == "scalars":
        from tensorboard.util import tensor_util

        return float(tensor_util.make_ndarray(value.tensor).item())
    return None


def _plugin(value: Any) -> str:
    """What a (non-scalar) value holds, named as TensorBoard's plugins name it."""
    kind = value.WhichOneof("value")
    if kind in ("histo", "image", "audio"):
        return _KINDS[kind]
    return str(value.metadata.plugin_data.plugin_name) or _KINDS.get(kind, kind or "unknown")


def _media(
    value: Any, plugin: str, where: str, skipped: Counter[str]
) -> Callable[[], Logged] | None:
    """How to make the Assay value of a histogram, image or text (checked now, made when
    written); None, counted in ``skipped`` with the reason, for one Assay cannot hold."""
    if plugin == "histograms":
        made = _histogram(value)
        if isinstance(made, str):
            skipped[f"histograms ({made})"] += 1
            return None
        return lambda: made
    if plugin == "images":
        encoded = _encoded_images(value)
        if not encoded:
            skipped["images (empty)"] += 1
            return None
        return _images(encoded, where)
    if plugin == "text":
        texts = _texts(value, where)
        return lambda: texts[0] if len(texts) == 1 else list(texts)
    if plugin == "audio":
        clips = [_audio(data, where) for data in _encoded_audio(value)]
        if not clips:
            skipped["audio (empty)"] += 1
            return None
        return lambda: clips[0] if len(clips) == 1 else list(clips)
    if plugin == "pr_curves":
        table = _pr_curve(value, where)
        return lambda: table
    return None


def _histogram(value: Any) -> Histogram | str:
    """The histogram, or why it cannot be one."""
    if value.WhichOneof("value") == "histo":
        proto = value.histo
        counts = list(proto.bucket)
        edges = [proto.min, *list(proto.bucket_limit)[:-1], proto.max]
        if len(edges) > 2:  # an empty first (last) bucket may lie wholly below min (above max)
            edges[0], edges[-1] = min(edges[0], edges[1]), max(edges[-1], edges[-2])
    else:
        from tensorboard.util import tensor_util

        buckets = tensor_util.make_ndarray(value.tensor).reshape(-1, 3)
        counts = buckets[:, 2].tolist()
        edges = [*buckets[:, 0].tolist(), *buckets[-1:, 1].tolist()]
    if not counts:
        return "empty"
    if len(counts) > MAX_BINS:  # TensorFlow's default buckets: ~1,500, mostly empty
        counts, edges = _empty_runs_merged(counts, edges)
    if len(counts) > MAX_BINS:
        return f"over {MAX_BINS} non-empty buckets"
    try:
        return Histogram(counts=counts, edges=edges)
    except InvalidInput:
        return "edges not increasing"


def _empty_runs_merged(counts: list[float], edges: list[float]) -> tuple[list[float], list[float]]:
    """Each run of adjacent empty buckets as one empty bucket spanning them: every
    non-empty bucket keeps its edges and count, so the distribution is the same."""
    merged, bounds = [counts[0]], [edges[0], edges[1]]
    for count, right in zip(counts[1:], edges[2:], strict=True):
        if count == 0 and merged[-1] == 0:
            bounds[-1] = right
        else:
            merged.append(count)
            bounds.append(right)
    return merged, bounds


def _encoded_images(value: Any) -> list[bytes]:
    if value.WhichOneof("value") == "image":
        return [bytes(value.image.encoded_image_string)]
    return [bytes(b) for b in value.tensor.string_val[2:]]  # width, height, then images


def _images(encoded: list[bytes], where: str) -> Callable[[], Logged]:
    """Each image is decoded once here (a damaged one fails its run, named) and kept as
    its bytes; its pixels are made again when the value is written."""
    for data in encoded:
        try:
            pixels.open_bytes(data, "the image")
        except InvalidInput as exc:
            raise CorruptData(f"{where}: {exc}") from None

    def make() -> Logged:
        images = [Image(pixels.open_bytes(data, "the image")) for data in encoded]
        return images[0] if len(images) == 1 else list(images)

    return make


def _encoded_audio(value: Any) -> list[bytes]:
    if value.WhichOneof("value") == "audio":
        return [bytes(value.audio.encoded_audio_string)]
    return [bytes(b) for b in value.tensor.string_val[0::2]]  # [k, 2]: clip, label


def _audio(data: bytes, where: str) -> Audio:
    """A WAV clip as ``assay.Audio``: its samples (16-bit, frames x channels) and rate."""
    try:
        with wave.open(io.BytesIO(data)) as clip:
            if clip.getsampwidth() != 2:
                raise CorruptData(f"{where}: {8 * clip.getsampwidth()}-bit audio, not 16-bit")
            rate, channels = clip.getframerate(), clip.getnchannels()
            frames = clip.readframes(clip.getnframes())
    except (wave.Error, EOFError) as exc:
        raise CorruptData(f"{where}: not a WAV clip ({exc})") from None
    samples = np.frombuffer(frames, dtype="<i2").astype(np.int16)
    try:
        return Audio(samples if channels == 1 else samples.reshape(-1, channels), rate)
    except InvalidInput as exc:
        raise CorruptData(f"{where}: {exc}") from None


def _pr_curve(value: Any, where: str) -> Table:
    from tensorboard.util import tensor_util

    data = tensor_util.make_ndarray(value.tensor).astype(np.float64)
    if data.ndim != 2 or data.shape[0] != 6:
        raise CorruptData(f"{where}: a PR curve of shape {data.shape}, not [6, n]")
    tp, fp, tn, fn, precision, recall = data.tolist()
    thresholds = np.linspace(0.0, 1.0, data.shape[1]).tolist()
    rows = list(zip(thresholds, precision, recall, tp, fp, tn, fn, strict=True))
    return Table(rows, columns=PR_COLUMNS)


def _texts(value: Any, where: str) -> list[Text]:
    try:
        return [Text(bytes(b).decode("utf-8")) for b in value.tensor.string_val] or [Text("")]
    except (UnicodeDecodeError, InvalidInput) as exc:
        raise CorruptData(f"{where}: not text Assay can hold ({exc})") from None


def _key(tag: str) -> str:
    """A TensorBoard tag as a metric key (empty namespace parts dropped)."""
    return "/".join(part for part in tag.split("/") if part) or "value"
