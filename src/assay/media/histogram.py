"""``assay.Histogram``: a distribution at a step, from values (binned in the writer's
thread) or from precomputed bin edges and counts. Small enough to log every step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.media.value import Encoded, Fetch, Value, as_array, finite

if TYPE_CHECKING:
    from numpy.typing import NDArray

DEFAULT_BINS = 64
MAX_BINS = 512


class Histogram(Value):
    """``assay.Histogram(weights)`` bins values (non-finite ones are counted apart, in
    ``nonfinite``); ``assay.Histogram(counts=c, edges=e)`` takes bins already made
    (``len(edges) == len(counts) + 1``)."""

    kind = "histogram"

    def __init__(
        self,
        values: Any = None,
        bins: int = DEFAULT_BINS,
        *,
        counts: Any = None,
        edges: Any = None,
    ) -> None:
        import numpy as np

        if type(bins) is not int or not 1 <= bins <= MAX_BINS:
            raise InvalidInput(f"histogram bins must be an int from 1 to {MAX_BINS}, not {bins!r}")
        self.bins = bins
        self._values: NDArray[Any] | None = None
        self.nonfinite = 0
        if values is not None and (counts is not None or edges is not None):
            raise InvalidInput("give a histogram values, or counts and edges, not both")
        if values is not None:
            array = as_array(values, "histogram values").ravel()
            if array.dtype.kind not in "biuf":
                raise InvalidInput(f"histogram values must be numbers, not {array.dtype}")
            self._values = array
            self.counts: NDArray[np.float64] = np.zeros(0)
            self.edges: NDArray[np.float64] = np.zeros(0)
        elif counts is not None and edges is not None:
            self.counts, self.edges = _check_bins(counts, edges)
        else:
            raise InvalidInput("a histogram needs values, or both counts and edges")

    @property
    def nbytes(self) -> int:
        return self._values.nbytes if self._values is not None else 16 * len(self.counts)

    def _binned(self) -> None:
        import numpy as np

        if self._values is None:
            return
        values = self._values.astype(np.float64, copy=False)
        keep = np.isfinite(values)
        self.nonfinite = int(values.size - keep.sum())
        counts, edges = np.histogram(values[keep], bins=self.bins)
        self.counts, self.edges = counts.astype(np.float64), edges
        self._values = None

    def encode(self, out: Encoded) -> dict[str, Any]:
        self._binned()
        body: dict[str, Any] = {"counts": self.counts.tolist(), "edges": self.edges.tolist()}
        if self.nonfinite:
            body["nonfinite"] = self.nonfinite
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Histogram:
        made = cls(counts=body["counts"], edges=body["edges"])
        made.nonfinite = int(body.get("nonfinite", 0))
        return made

    def __repr__(self) -> str:
        self._binned()
        return f"<Histogram {len(self.counts)} bins, {int(self.counts.sum())} values>"


def _check_bins(counts: Any, edges: Any) -> tuple[NDArray[Any], NDArray[Any]]:
    import numpy as np

    c = as_array(counts, "histogram counts").astype(np.float64).ravel()
    e = as_array(edges, "histogram edges").astype(np.float64).ravel()
    if not 1 <= len(c) <= MAX_BINS or len(e) != len(c) + 1:
        raise InvalidInput(
            f"a histogram needs 1-{MAX_BINS} counts and one edge more; got {len(c)} counts "
            f"and {len(e)} edges"
        )
    finite(c, "histogram counts")
    finite(e, "histogram edges")
    if (c < 0).any():
        raise InvalidInput("histogram counts must not be negative")
    if (np.diff(e) < 0).any():
        raise InvalidInput("histogram edges must be increasing")
    return c, e
