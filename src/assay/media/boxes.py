"""An image's bounding boxes (``assay.Image(..., boxes=...)``), checked when the image is
made and kept with every corner in pixels.

``boxes`` is a list of boxes (one unnamed set, ``image.boxes``), or a dict of named box
layers (``image.box_layers``: ``{"predictions": ..., "ground_truth": ...}``), each a list
of boxes or ``{"boxes": [...], "class_labels": {id: name}}`` (W&B's ``box_data`` is read
as ``boxes``). A box is a dict with its place, one of

* ``"box": [x0, y0, x1, y1]`` in pixels;
* ``"position": {"minX": .., "maxX": .., "minY": .., "maxY": ..}`` or
  ``{"middle": [x, y], "width": .., "height": ..}``, in fractions of the image's width
  and height, or in pixels with ``"domain": "pixel"`` (W&B's two forms),

and optionally ``label`` (a string), ``class_id`` (an int, named by the layer's
``class_labels``), ``caption`` (W&B's ``box_caption`` too), ``score`` (a number) and
``scores`` (``{name: number}``). A box is kept as ``box`` (pixels) and those fields.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput
from assay.media.value import caption_of

CORNERS = frozenset({"minX", "maxX", "minY", "maxY"})
CENTRE = frozenset({"middle", "width", "height"})
DOMAINS = (None, "pixel", "fraction")
FIELDS = frozenset(
    {"box", "position", "domain", "label", "class_id", "caption", "box_caption", "score", "scores"}
)
LAYER_FIELDS = frozenset({"boxes", "box_data", "class_labels"})
# per image, over all its layers: their JSON stays well under a stored body's limit
# (8 MiB), so too many boxes are refused at the call, not when the writer stores them
MAX_BOXES = 20_000


@dataclass(kw_only=True)
class BoxLayer:
    """One named set of boxes (predictions, ground truth...) and the names of its class
    ids."""

    boxes: list[dict[str, Any]] = field(default_factory=list)
    class_labels: dict[int, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"boxes": self.boxes}
        if self.class_labels:
            body["class_labels"] = {str(k): v for k, v in self.class_labels.items()}
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> BoxLayer:
        labels = body.get("class_labels", {})
        return cls(
            boxes=list(body.get("boxes", [])),
            class_labels={int(k): str(v) for k, v in labels.items()},
        )


def check(
    boxes: object, width: int, height: int
) -> tuple[list[dict[str, Any]], dict[str, BoxLayer]]:
    """The unnamed boxes and the named layers of ``boxes`` (one of them is empty)."""
    if boxes is None:
        return [], {}
    if isinstance(boxes, list | tuple):
        _count(len(boxes))
        return _boxes(boxes, "image boxes", width, height), {}
    if isinstance(boxes, dict):
        layers = {
            _name(name): _layer(layer, f"image boxes[{name!r}]", width, height)
            for name, layer in boxes.items()
        }
        _count(sum(len(layer.boxes) for layer in layers.values()))
        return [], layers
    raise InvalidInput(
        "image boxes must be a list of boxes or a dict of named box layers, not "
        f"{type(boxes).__name__}"
    )


def _count(count: int) -> None:
    if count > MAX_BOXES:
        raise InvalidInput(
            f"an image holds at most {MAX_BOXES} boxes (MAX_BOXES); this has {count}"
        )


def layers_body(layers: dict[str, BoxLayer]) -> dict[str, Any]:
    return {name: layer.body() for name, layer in layers.items()}


def layers_from_body(body: dict[str, Any]) -> dict[str, BoxLayer]:
    return {str(name): BoxLayer.from_body(layer) for name, layer in body.items()}


def _name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 256:
        raise InvalidInput(f"a box layer's name must be a string of 1 to 256 characters: {name!r}")
    return name


def _layer(layer: object, where: str, width: int, height: int) -> BoxLayer:
    if isinstance(layer, list | tuple):
        return BoxLayer(boxes=_boxes(layer, where, width, height))
    if not isinstance(layer, dict):
        raise InvalidInput(
            f"{where} must be a list of boxes or a dict with 'boxes' and 'class_labels', "
            f"not {type(layer).__name__}"
        )
    unknown = set(layer) - LAYER_FIELDS
    if unknown:
        raise InvalidInput(f"{where} has unknown fields {sorted(map(str, unknown))}")
    if ("boxes" in layer) == ("box_data" in layer):
        raise InvalidInput(f"{where} must hold its boxes under 'boxes' (or 'box_data'), once")
    found = layer["boxes"] if "boxes" in layer else layer["box_data"]
    if not isinstance(found, list | tuple):
        raise InvalidInput(f"{where}: the boxes must be a list, not {type(found).__name__}")
    return BoxLayer(
        boxes=_boxes(found, where, width, height),
        class_labels=_labels(layer.get("class_labels"), where),
    )


def _labels(labels: object, where: str) -> dict[int, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise InvalidInput(f"{where}['class_labels'] must be a dict of {{class id: name}}")
    checked = {}
    for key, name in labels.items():
        if not _is_int(key) or not isinstance(name, str):
            raise InvalidInput(
                f"{where}['class_labels'] must map int class ids to names: {key!r}: {name!r}"
            )
        checked[int(key)] = name
    return checked


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _boxes(boxes: list[Any] | tuple[Any, ...], where: str, w: int, h: int) -> list[dict[str, Any]]:
    return [_box(box, f"{where}[{i}]", w, h) for i, box in enumerate(boxes)]


def _box(box: object, where: str, width: int, height: int) -> dict[str, Any]:
    if not isinstance(box, dict) or ("box" in box) == ("position" in box):
        raise InvalidInput(
            f"{where} must be a dict with 'box': [x0, y0, x1, y1] (pixels) or 'position' "
            "(minX/maxX/minY/maxY or middle/width/height)"
        )
    unknown = set(box) - FIELDS
    if unknown:
        raise InvalidInput(f"{where} has unknown fields {sorted(map(str, unknown))}")
    if "box" in box:
        if "domain" in box:
            raise InvalidInput(f"{where}: 'box' is in pixels; 'domain' goes with 'position'")
        coords = [number(v, f"{where}['box']") for v in _sequence(box["box"], f"{where}['box']")]
        if len(coords) != 4:
            raise InvalidInput(f"{where}['box'] must hold 4 numbers: x0, y0, x1, y1")
    else:
        coords = _position(box["position"], box.get("domain"), where, width, height)
    entry: dict[str, Any] = {"box": coords}
    if box.get("label") is not None:
        entry["label"] = caption_of(box["label"], f"{where} label:")
    if box.get("class_id") is not None:
        if not _is_int(box["class_id"]):
            raise InvalidInput(f"{where}['class_id'] must be an int, not {box['class_id']!r:.40}")
        entry["class_id"] = int(box["class_id"])
    if "caption" in box and "box_caption" in box:
        raise InvalidInput(f"{where} has both 'caption' and 'box_caption': give one")
    caption = box.get("caption", box.get("box_caption"))
    if caption is not None:
        entry["caption"] = caption_of(caption, f"{where} box")
    if box.get("score") is not None:
        entry["score"] = number(box["score"], f"{where}['score']")
    if box.get("scores") is not None:
        entry["scores"] = _scores(box["scores"], where)
    return entry


def _position(position: object, domain: object, where: str, width: int, height: int) -> list[float]:
    """``[x0, y0, x1, y1]`` in pixels from W&B's corners or centre form."""
    if domain not in DOMAINS:
        raise InvalidInput(
            f"{where}['domain'] is {domain!r:.40}; expected 'pixel' or none (fractions)"
        )
    keys = set(position) if isinstance(position, dict) else set()
    here = f"{where}['position']"
    if keys == CORNERS:
        assert isinstance(position, dict)
        x0, x1 = number(position["minX"], here), number(position["maxX"], here)
        y0, y1 = number(position["minY"], here), number(position["maxY"], here)
        if x1 < x0 or y1 < y0:
            raise InvalidInput(f"{here}: maxX and maxY must not be under minX and minY")
    elif keys == CENTRE:
        assert isinstance(position, dict)
        middle = [number(v, f"{here}['middle']") for v in _sequence(position["middle"], here)]
        if len(middle) != 2:
            raise InvalidInput(f"{here}['middle'] must hold 2 numbers: x, y")
        w, h = number(position["width"], here), number(position["height"], here)
        if w < 0 or h < 0:
            raise InvalidInput(f"{here}: a negative width or height ({w:g} x {h:g})")
        x0, x1 = middle[0] - w / 2, middle[0] + w / 2
        y0, y1 = middle[1] - h / 2, middle[1] + h / 2
    else:
        shown = sorted(map(str, keys)) if isinstance(position, dict) else type(position).__name__
        raise InvalidInput(
            f"{here}: unknown coordinate form {shown}; expected minX, maxX, minY, maxY or "
            "middle, width, height"
        )
    if domain == "pixel":
        return [x0, y0, x1, y1]
    return [x0 * width, y0 * height, x1 * width, y1 * height]


def _scores(scores: object, where: str) -> dict[str, float]:
    if not isinstance(scores, dict):
        raise InvalidInput(f"{where}['scores'] must be a dict of {{name: number}}")
    checked = {}
    for name, value in scores.items():
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{where}['scores'] names must be strings: {name!r:.40}")
        checked[name] = number(value, f"{where}['scores'][{name!r}]")
    return checked


def _sequence(value: object, where: str) -> list[Any]:
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise InvalidInput(f"{where}: {value!r:.40} is not a list of numbers")
    return list(value)


def number(value: object, where: str) -> float:
    if isinstance(value, str | bytes):
        raise InvalidInput(f"{where}: {value!r:.40} is not a number")
    try:
        found = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {value!r:.40} is not a number") from None
    if not math.isfinite(found):
        raise InvalidInput(f"{where}: {found} is not finite")
    return found
