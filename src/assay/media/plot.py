"""``assay.Plot``: a matplotlib figure, rendered to PNG when made (a figure may change
or be closed right after); a Plotly figure or a Vega-Lite spec (an Altair chart, or a
dict), kept as its JSON spec."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.media import pixels
from assay.media.value import Encoded, Fetch, Lazy, Value, caption_of

if TYPE_CHECKING:
    from numpy.typing import NDArray

FORMATS = ("png", "plotly", "vega-lite")
MAX_SPEC_BYTES = 32 * 1024 * 1024


class Plot(Value):
    kind = "plot"

    def __init__(self, figure: Any, caption: str | None = None, *, format: str | None = None):
        self.caption = caption_of(caption, "plot")
        self._stored: Lazy | None = None
        self.format, self._data = _render(figure, format)
        if len(self._data) > MAX_SPEC_BYTES:
            raise InvalidInput(f"plot is {len(self._data)} bytes; at most {MAX_SPEC_BYTES}")

    @property
    def nbytes(self) -> int:
        return len(self._data)

    def encode(self, out: Encoded) -> dict[str, Any]:
        body: dict[str, Any] = {"digest": out.add(self.data), "format": self.format}
        if self.caption is not None:
            body["caption"] = self.caption
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Plot:
        plot = cls.__new__(cls)
        plot.caption = body.get("caption")
        plot.format = body.get("format", "png")
        plot._data = b""
        plot._stored = Lazy(body["digest"], fetch)
        return plot

    @property
    def data(self) -> bytes:
        """PNG bytes, or the spec as JSON."""
        return self._stored.data if self._stored is not None else self._data

    @property
    def spec(self) -> dict[str, Any]:
        """A Plotly or Vega-Lite plot's spec."""
        if self.format == "png":
            raise InvalidInput("a matplotlib plot is stored as a PNG; read it with to_numpy()")
        spec: dict[str, Any] = json.loads(self.data)
        return spec

    def to_numpy(self) -> NDArray[Any]:
        if self.format != "png":
            raise InvalidInput(f"a {self.format} plot is a spec; read it with .spec")
        return pixels.to_array(self.data, "the stored plot")

    def __repr__(self) -> str:
        return f"<Plot {self.format}>"


def _render(figure: Any, format: str | None) -> tuple[str, bytes]:
    module = type(figure).__module__
    if isinstance(figure, dict):
        return _spec(figure, format)
    if format is not None:
        raise InvalidInput("format= is for a spec given as a dict")
    if module.startswith("matplotlib") and hasattr(figure, "savefig"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return "png", buffer.getvalue()
    if module.startswith("plotly") and hasattr(figure, "to_json"):
        return "plotly", str(figure.to_json()).encode()
    if module.startswith("altair") and hasattr(figure, "to_json"):
        return "vega-lite", str(figure.to_json()).encode()
    raise InvalidInput(
        f"assay.Plot takes a matplotlib figure, a Plotly figure, an Altair chart or a spec "
        f"dict with format='plotly' or 'vega-lite'; not a {module}.{type(figure).__name__}"
    )


def _spec(spec: dict[str, Any], format: str | None) -> tuple[str, bytes]:
    if format is None and "vega" in str(spec.get("$schema", "")):
        format = "vega-lite"
    if format not in ("plotly", "vega-lite"):
        raise InvalidInput(
            "a plot spec dict needs format='plotly' or 'vega-lite' (or a Vega '$schema')"
        )
    try:
        return format, json.dumps(spec, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the {format} spec is not plain JSON ({exc})") from None
