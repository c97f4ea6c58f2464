"""W&B media values in a run's history as Assay values, from offline run folders and from
a W&B server alike.

A history row holds a media value as a dict with ``_type`` and the path of its file in
the run's files (``media/images/sample_0_3df3....png``), with W&B's SHA-256 of it:

* ``image-file`` becomes ``assay.Image`` with the file's own bytes (the same pixels),
  its caption and its masks (class ids, and the class names W&B keeps in the run's
  config); ``images/separated`` (a list of images logged at one step) a list of them.
* ``audio-file`` becomes ``assay.Audio`` with the file's bytes; a WAV's sample rate is
  read from its header (W&B records none for a file).
* ``table-file`` becomes ``assay.Table`` with the same columns and rows. W&B keeps a
  table with images whole only in the run-table artifact it logs beside the run
  (``artifact_path``): the run's own copy holds the text ``"Image"`` in their place. The
  table is read from that artifact when the value names one, and its image cells become
  ``assay.Image`` cells. NaN and infinities in cells become None (W&B's artifact copy
  writes them as null); a list or dict cell becomes its JSON text; a cell holding another
  W&B media kind (audio, html...) becomes None and is counted as not imported.
* ``histogram`` (bins and counts inline) becomes ``assay.Histogram``.

A file that is missing or whose SHA-256 is not W&B's fails the run, by name (CorruptData):
a run never comes in without a value it logged. Other kinds (html, video, molecules,
plots...), an image's boxes and a table image cell's masks are counted by name as not
imported. A table
whose run-table artifact is not among the run's artifacts fails the run too: its own
copy cannot tell an image cell from the text "Image".
"""

from __future__ import annotations

import hashlib
import json
import math
import wave
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.errors import CorruptData, InvalidInput
from assay.media import Audio, Histogram, Image, Table, pixels
from assay.media.codec import Logged
from assay.media.value import Value
from assay.values import finite

KINDS = {
    "image-file": "image",
    "images/separated": "image",
    "audio-file": "audio",
    "table-file": "table",
    "histogram": "histogram",
}

# the local copy of a W&B file: (its path in the run's files, W&B's SHA-256 or None) -> file
Files = Callable[[str, str | None], Path]
# a table's artifact: artifact_path -> (the table's JSON, the files of that artifact), or None
Tables = Callable[[str], tuple[dict[str, Any], Files] | None]
# media key -> mask name -> class id -> class name, as W&B keeps them in a run's config
MaskLabels = dict[str, dict[str, dict[int, str]]]
DELIMITER = "_wandb_delimeter_"  # W&B's spelling, between a media key and a mask's name


def mask_labels(wandb_config: Any) -> MaskLabels:
    """The class names of the runs' image masks from W&B's own ``_wandb`` config entry
    (``mask/class_labels``: ``{"<key>_wandb_delimeter_<mask>": {"value": {id: name}}}``)."""
    found: MaskLabels = {}
    entries = wandb_config.get("mask/class_labels") if isinstance(wandb_config, dict) else None
    for name, entry in (entries or {}).items():
        key, _, mask = str(name).rpartition(DELIMITER)
        value = entry.get("value") if isinstance(entry, dict) else None
        if key and isinstance(value, dict):
            labels = {int(k): str(v) for k, v in value.items() if str(k).lstrip("-").isdigit()}
            found.setdefault(key, {})[mask] = labels
    return found


def value_of(
    kind: str,
    spec: dict[str, Any],
    files: Files,
    tables: Tables,
    skipped: Counter[str],
    *,
    mask_labels: dict[str, dict[int, str]] | None = None,
) -> Logged:
    """The Assay value of the W&B media ``spec`` (its ``_type`` is ``kind``, one of KINDS);
    ``mask_labels``: the class names of an image's masks, by mask (``class_labels``)."""
    if kind == "image-file":
        return _image(spec, files, skipped, mask_labels)
    if kind == "images/separated":
        return _images(spec, files, skipped)
    if kind == "audio-file":
        return _audio(spec, files)
    if kind == "table-file":
        return _table(spec, files, tables, skipped)
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


def _image(
    spec: dict[str, Any],
    files: Files,
    skipped: Counter[str],
    mask_labels: dict[str, dict[int, str]] | None = None,
) -> Image:
    boxes = spec.get("boxes")
    if boxes:
        skipped["image-file boxes"] += len(boxes) if isinstance(boxes, dict) else 1
    masks, labels = _masks(spec.get("masks"), files, skipped, mask_labels)
    path = _path(spec, "image")
    try:
        return Image(
            files(path, spec.get("sha256")),
            caption=_caption(spec.get("caption")),
            masks=masks or None,
            mask_labels=labels or None,
        )
    except InvalidInput as exc:
        raise CorruptData(f"W&B image {path}: {exc}") from None


def _masks(
    found: Any,
    files: Files,
    skipped: Counter[str],
    known: dict[str, dict[int, str]] | None,
) -> tuple[dict[str, Any], dict[int, str]]:
    """An image's W&B masks (PNGs of class ids) as arrays, and their class names merged
    (Assay keeps one naming per image): a class id two masks name differently keeps the
    first name, and the other is counted as not imported. Without ``known`` (a table's
    image cell, whose names W&B keeps in the table's column types), masks are counted."""
    if not isinstance(found, dict) or not found:
        return {}, {}
    if known is None:
        skipped["table image-file masks"] += len(found)
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


def _images(spec: dict[str, Any], files: Files, skipped: Counter[str]) -> list[Value]:
    names = spec.get("filenames")
    if not isinstance(names, list) or not names:
        raise CorruptData("the W&B list of images names no files")
    for extra in ("all_boxes", "all_masks"):
        if spec.get(extra):
            skipped[f"images/separated {extra.removeprefix('all_')}"] += 1
    captions = spec.get("captions")
    captions = captions if isinstance(captions, list) else []
    return [
        Image(files(str(name), None), caption=_caption(captions[i] if i < len(captions) else None))
        for i, name in enumerate(names)
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
        return _image(cell, files, skipped)
    if isinstance(cell, dict) and isinstance(cell.get("_type"), str):
        skipped[f"table {cell['_type']} cells"] += 1
        return None
    return json.dumps(finite(cell), ensure_ascii=False)
