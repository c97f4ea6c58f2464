"""W&B media values in a run's history as Assay values, from offline run folders and from
a W&B server alike.

A history row holds a media value as a dict with ``_type`` and the path of its file in
the run's files (``media/images/sample_0_3df3....png``), with W&B's SHA-256 of it:

* ``image-file`` becomes ``assay.Image`` with the file's own bytes (the same pixels),
  its caption, its masks (class ids, and the class names W&B keeps in the run's
  config) and its bounding boxes: every layer (``boxes2D``, a JSON file of its own) as
  an Assay box layer of the same name, each box with its position (corners in pixels),
  class id, caption and named scores, and the layer's class names (the file's own, else
  those W&B keeps in the run's config); ``images/separated`` (a list of images logged
  at one step) a list of them, with their boxes and masks.
* ``audio-file`` becomes ``assay.Audio`` with the file's bytes; a WAV's sample rate is
  read from its header (W&B records none for a file). ``audio`` (a list of audio
  logged at one step) becomes a list of them.
* ``html-file`` becomes ``assay.Html`` with the file's bytes (W&B's own: with the
  stylesheet link W&B injects unless logged with ``inject=False``); ``html`` (a list of
  them logged at one step) a list of them.
* ``video-file`` becomes ``assay.Video`` with the file's bytes, its format (the file's
  extension: gif, mp4, webm or ogg) and caption; ``videos`` (a list) a list of them.
* ``table-file`` becomes ``assay.Table`` with the same columns and rows. W&B keeps a
  table with images whole only in the run-table artifact it logs beside the run
  (``artifact_path``): the run's own copy holds the text ``"Image"`` in their place. The
  table is read from that artifact when the value names one, and its image cells become
  ``assay.Image`` cells, with their boxes and masks named by the class set W&B keeps
  beside the table in its artifact (one for the image's boxes and masks together).
  NaN and infinities in cells become None (W&B's artifact copy writes them as null); a
  list or dict cell becomes its JSON text; a cell holding another W&B media kind
  (audio, html...) becomes None and is counted as not imported.
* ``histogram`` (bins and counts inline) becomes ``assay.Histogram``.

A file that is missing or whose SHA-256 is not W&B's fails the run, by name (CorruptData):
a run never comes in without a value it logged. Other kinds (3D objects, molecules,
plots...) and fields of a box Assay does not keep are counted by name as not imported.
A table whose run-table artifact is not among the run's artifacts fails the run too:
its own copy cannot tell an image cell from the text "Image".
"""

from __future__ import annotations

import hashlib
import json
import math
import wave
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import CorruptData, InvalidInput
from assay.media import Audio, Histogram, Html, Image, Table, Video, pixels
from assay.media.codec import Logged
from assay.media.value import Value
from assay.values import finite

KINDS = {
    "image-file": "image",
    "images/separated": "image",
    "audio-file": "audio",
    "audio": "audio",
    "table-file": "table",
    "histogram": "histogram",
    "html-file": "html",
    "html": "html",
    "video-file": "video",
    "videos": "video",
}

# the local copy of a W&B file: (its path in the run's files, W&B's SHA-256 or None) -> file
Files = Callable[[str, str | None], Path]
# a table's artifact: artifact_path -> (the table's JSON, the files of that artifact), or None
Tables = Callable[[str], tuple[dict[str, Any], Files] | None]
# media key -> mask name (or box layer) -> class id -> class name, as W&B keeps them in
# a run's config
ClassLabels = dict[str, dict[str, dict[int, str]]]
DELIMITER = "_wandb_delimeter_"  # W&B's spelling, between a media key and a mask's name
MASK_LABELS, BOX_LABELS = "mask/class_labels", "bounding_box/class_labels"
BOX_FIELDS = ("position", "class_id", "box_caption", "scores")  # those of W&B's Assay keeps


def mask_labels(wandb_config: Any) -> ClassLabels:
    """The class names of the runs' image masks from W&B's own ``_wandb`` config entry
    (``mask/class_labels``: ``{"<key>_wandb_delimeter_<mask>": {"value": {id: name}}}``)."""
    return _config_labels(wandb_config, MASK_LABELS)


def box_labels(wandb_config: Any) -> ClassLabels:
    """The class names of the runs' box layers, from ``bounding_box/class_labels`` in
    W&B's ``_wandb`` config entry (keyed as the masks' are)."""
    return _config_labels(wandb_config, BOX_LABELS)


def _config_labels(wandb_config: Any, entry_name: str) -> ClassLabels:
    found: ClassLabels = {}
    entries = wandb_config.get(entry_name) if isinstance(wandb_config, dict) else None
    for name, entry in (entries or {}).items():
        key, _, part = str(name).rpartition(DELIMITER)
        value = entry.get("value") if isinstance(entry, dict) else None
        if key and isinstance(value, dict):
            found.setdefault(key, {})[part] = _class_ids(value)
    return found


def _class_ids(value: dict[Any, Any]) -> dict[int, str]:
    return {int(k): str(v) for k, v in value.items() if str(k).lstrip("-").isdigit()}


def value_of(
    kind: str,
    spec: dict[str, Any],
    files: Files,
    tables: Tables,
    skipped: Counter[str],
    *,
    mask_labels: dict[str, dict[int, str]] | None = None,
    box_labels: dict[str, dict[int, str]] | None = None,
) -> Logged:
    """The Assay value of the W&B media ``spec`` (its ``_type`` is ``kind``, one of KINDS);
    ``mask_labels`` and ``box_labels``: the class names W&B keeps in the run's config for
    an image's masks (by mask) and boxes (by layer)."""
    labels = Labels(masks=mask_labels or {}, boxes=box_labels or {})
    if kind == "image-file":
        return _image(spec, files, skipped, labels)
    if kind == "images/separated":
        return _images(spec, files, skipped, labels)
    if kind == "audio-file":
        return _audio(spec, files)
    if kind == "audio":
        return _audios(spec, files)
    if kind == "table-file":
        return _table(spec, files, tables, skipped)
    if kind == "html-file":
        return _html(spec, files)
    if kind == "html":
        pages: list[Value] = [_html(item, files) for item in _items(spec, "html", "html")]
        return pages
    if kind == "video-file":
        return _video(spec, files)
    if kind == "videos":
        found = _items(spec, "videos", "videos")
        captions = _each(spec, "captions", len(found))
        videos: list[Value] = [
            _video({"caption": captions[i], **v}, files) for i, v in enumerate(found)
        ]
        return videos
    if kind == "histogram":
        try:
            return Histogram(counts=spec["values"], edges=spec["bins"])
        except (KeyError, InvalidInput) as exc:
            raise CorruptData(f"histogram: {exc}") from None
    raise InvalidInput(f"W&B media kind {kind!r} is not one Assay imports")


def checked(path: Path, name: str, sha256: str | None) -> Path:
    """``path`` if it is a file holding the bytes W&B recorded for ``name``."""
    if not path.is_file():
        raise CorruptData(f"W&B file {name} is not at {path}")
    if sha256 and _sha256(path) != sha256:
        raise CorruptData(f"W&B file {name} at {path} is not what W&B recorded (SHA-256 {sha256})")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _path(spec: dict[str, Any], what: str) -> str:
    path = spec.get("path")
    if not isinstance(path, str) or not path:
        raise CorruptData(f"the W&B {what} names no file")
    return path


def _caption(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Labels:
    """The class names W&B keeps for one media key: by mask, and by box layer."""

    masks: dict[str, dict[int, str]] = field(default_factory=dict)
    boxes: dict[str, dict[int, str]] = field(default_factory=dict)


def _image(
    spec: dict[str, Any],
    files: Files,
    skipped: Counter[str],
    known: Labels,
    path: str | None = None,
) -> Image:
    path = path or _path(spec, "image")
    masks, labels = _masks(spec.get("masks"), files, skipped, known.masks)
    layers = _box_layers(spec.get("boxes"), files, skipped, known.boxes)
    try:
        return Image(
            files(path, spec.get("sha256")),
            caption=_caption(spec.get("caption")),
            boxes=layers or None,
            masks=masks or None,
            mask_labels=labels or None,
        )
    except InvalidInput as exc:
        raise CorruptData(f"W&B image {path}: {exc}") from None


def _box_layers(
    found: Any, files: Files, skipped: Counter[str], known: dict[str, dict[int, str]]
) -> dict[str, Any]:
    """An image's W&B box layers as Assay's: in a run, each layer is a ``boxes2D`` JSON
    file (``box_data`` and the ``class_labels`` given, if any); in a table's artifact,
    the boxes themselves. Class names: the layer's own, else ``known``'s."""
    if not isinstance(found, dict):
        return {}
    layers: dict[str, Any] = {}
    for name, layer in sorted(found.items()):
        stored: Any = None
        if isinstance(layer, dict):
            local = files(_path(layer, f"box layer {name!r}"), layer.get("sha256"))
            try:
                body = json.loads(local.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                raise CorruptData(f"W&B box layer {name!r} is not JSON: {exc}") from None
            data = body.get("box_data") if isinstance(body, dict) else None
            stored = body.get("class_labels") if isinstance(body, dict) else None
        else:
            data = layer
        if not isinstance(data, list):
            raise CorruptData(f"W&B box layer {name!r} holds no list of boxes")
        labels = _class_ids(stored) if isinstance(stored, dict) else known.get(str(name), {})
        boxes = [_box(box, str(name), skipped) for box in data]
        layers[str(name)] = {"boxes": boxes, "class_labels": labels}
    return layers


def _box(box: Any, layer: str, skipped: Counter[str]) -> dict[str, Any]:
    """A W&B box as Assay reads it: its position (in pixels with ``domain`` "pixel",
    else in fractions, as W&B reads it), class id, caption and scores."""
    if not isinstance(box, dict):
        raise CorruptData(f"a box of W&B box layer {layer!r} is not a dict")
    kept = {k: box[k] for k in BOX_FIELDS if box.get(k) is not None}
    if box.get("domain") == "pixel":
        kept["domain"] = "pixel"
    left = set(box) - {*BOX_FIELDS, "domain"}
    if left:
        skipped["image-file box fields"] += len(left)
    return kept


def _masks(
    found: Any,
    files: Files,
    skipped: Counter[str],
    known: dict[str, dict[int, str]],
) -> tuple[dict[str, Any], dict[int, str]]:
    """An image's W&B masks (PNGs of class ids) as arrays, and their class names merged
    (Assay keeps one naming per image): a class id two masks name differently keeps the
    first name, and the other is counted as not imported."""
    if not isinstance(found, dict) or not found:
        return {}, {}
    masks: dict[str, Any] = {}
    labels: dict[int, str] = {}
    for name, mask in sorted(found.items()):
        if not isinstance(mask, dict):
            raise CorruptData(f"W&B mask {name!r} is not a mask")
        local = files(_path(mask, f"mask {name!r}"), mask.get("sha256"))
        masks[name] = pixels.to_array(local.read_bytes(), f"W&B mask {name!r}")
        for class_id, label in known.get(name, {}).items():
            if labels.setdefault(class_id, label) != label:
                skipped["image-file mask class names"] += 1
    return masks, labels


def _images(
    spec: dict[str, Any], files: Files, skipped: Counter[str], known: Labels
) -> list[Value]:
    """A list of images: their files, captions, boxes (``all_boxes``) and masks
    (``all_masks``), each list one entry per image (None for an image without)."""
    names = spec.get("filenames")
    if not isinstance(names, list) or not names:
        raise CorruptData("the W&B list of images names no files")
    captions, boxes, masks = (_each(spec, part, len(names)) for part in PARTS)
    images: list[Value] = []
    for i, name in enumerate(names):
        one = {"caption": captions[i], "boxes": boxes[i], "masks": masks[i]}
        images.append(_image(one, files, skipped, known, path=str(name)))
    return images


PARTS = ("captions", "all_boxes", "all_masks")  # of a W&B list of images, one per image


def _each(spec: dict[str, Any], part: str, count: int) -> list[Any]:
    """A list's per-item ``part``, as long as the list (W&B writes False for none)."""
    found = spec.get(part)
    if not found:
        return [None] * count
    if not isinstance(found, list) or len(found) != count:
        raise CorruptData(f"the W&B list of {count} values has {part} of another length")
    return found


def _audios(spec: dict[str, Any], files: Files) -> list[Value]:
    """A list of audio: each an ``audio-file`` with its caption and sample rate."""
    found = spec.get("audio")
    if not isinstance(found, list) or not found or not all(isinstance(a, dict) for a in found):
        raise CorruptData("the W&B list of audio names no files")
    captions = _each(spec, "captions", len(found))
    rates = _each(spec, "sampleRates", len(found))
    return [
        _audio({"caption": captions[i], "sample_rate": rates[i], **item}, files)
        for i, item in enumerate(found)
    ]


def _audio(spec: dict[str, Any], files: Files) -> Audio:
    local = files(_path(spec, "audio"), spec.get("sha256"))
    rate = spec.get("sample_rate")
    if local.suffix.lower() == ".wav":
        try:
            with wave.open(str(local)) as reader:
                rate = reader.getframerate()
        except (wave.Error, EOFError) as exc:
            what = f"W&B audio file {spec['path']}"
            raise CorruptData(f"{what} is not a readable WAV: {exc}") from None
    sample_rate = int(rate) if isinstance(rate, int | float) and rate > 0 else None
    return Audio(local, sample_rate=sample_rate, caption=_caption(spec.get("caption")))


def _items(spec: dict[str, Any], part: str, what: str) -> list[dict[str, Any]]:
    """The values of a W&B list (``{"_type": "html", "html": [...]}``), each a dict."""
    found = spec.get(part)
    if not isinstance(found, list) or not found or not all(isinstance(v, dict) for v in found):
        raise CorruptData(f"the W&B list of {what} names no files")
    return found


def _html(spec: dict[str, Any], files: Files) -> Html:
    path = _path(spec, "html")
    try:
        return Html(files(path, spec.get("sha256")))
    except InvalidInput as exc:
        raise CorruptData(f"W&B html {path}: {exc}") from None


def _video(spec: dict[str, Any], files: Files) -> Video:
    """A video file, its format its extension (as W&B names it: gif, mp4, webm, ogg)."""
    path = _path(spec, "video")
    try:
        return Video(files(path, spec.get("sha256")), caption=_caption(spec.get("caption")))
    except InvalidInput as exc:
        raise CorruptData(f"W&B video {path}: {exc}") from None


def _table(spec: dict[str, Any], files: Files, tables: Tables, skipped: Counter[str]) -> Table:
    path = _path(spec, "table")
    found = None
    named = [
        spec[n] for n in ("artifact_path", "_latest_artifact_path") if isinstance(spec.get(n), str)
    ]
    for artifact_path in named:
        found = tables(artifact_path)
        if found is not None:
            break
    if found is None and named:  # the run's own copy holds "Image" where images were
        raise CorruptData(
            f"W&B table {path} is in the artifact {named[0]}, which is not among the "
            "artifacts the run logged"
        )
    if found is None:
        local = files(path, spec.get("sha256"))
        try:
            body = json.loads(local.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptData(f"W&B table {path} is not JSON: {exc}") from None
        found = body, files
    body, cell_files = found
    columns, data = body.get("columns"), body.get("data")
    if not isinstance(columns, list) or not isinstance(data, list):
        raise CorruptData(f"W&B table {path} has no columns and data")
    rows = [[_cell(c, cell_files, skipped) for c in row] for row in data]
    try:
        return Table(rows, columns=[str(c) for c in columns])
    except InvalidInput as exc:
        raise CorruptData(f"W&B table {path}: {exc}") from None


def _cell(cell: Any, files: Files, skipped: Counter[str]) -> Any:
    if cell is None or isinstance(cell, bool | str):
        return cell
    if isinstance(cell, int):
        return cell if -(2**63) <= cell < 2**64 else str(cell)
    if isinstance(cell, float):
        return cell if math.isfinite(cell) else None
    if isinstance(cell, dict) and cell.get("_type") == "image-file":
        classes = _classes(cell.get("classes"), files)  # its boxes' and masks' alike
        known = Labels(
            masks=dict.fromkeys(map(str, cell.get("masks") or {}), classes),
            boxes=dict.fromkeys(map(str, cell.get("boxes") or {}), classes),
        )
        return _image(cell, files, skipped, known)
    if isinstance(cell, dict) and isinstance(cell.get("_type"), str):
        skipped[f"table {cell['_type']} cells"] += 1
        return None
    return json.dumps(finite(cell), ensure_ascii=False)


def _classes(found: Any, files: Files) -> dict[int, str]:
    """The class names of a table's image cell: W&B's ``classes-file`` in the table's
    artifact (``{"class_set": [{"id": .., "name": ..}]}``), shared by its box layers."""
    if not isinstance(found, dict):
        return {}
    path = _path(found, "class set")
    try:
        body = json.loads(files(path, None).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptData(f"W&B class set {path} is not JSON: {exc}") from None
    entries = body.get("class_set") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise CorruptData(f"W&B class set {path} holds no class_set")
    return _class_ids({e.get("id"): e.get("name") for e in entries if isinstance(e, dict)})
