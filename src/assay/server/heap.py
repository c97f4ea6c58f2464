"""The server process's garbage collector, settled once the app is built.

Everything startup made (modules, routes, schemas, the price table) lives as long as the
process, yet each full collection would walk all of it again: hundreds of milliseconds
with the GIL held, which is how an export's acknowledgement waited a second behind a
busy ingest. ``settle`` collects once, then freezes what is left (``gc.freeze``: those
objects are never walked again) and lets more allocations pass between collections of
the youngest generation, so that requests that make and drop thousands of objects (an
OTLP export of 512 spans) are not interrupted many times each.
"""

from __future__ import annotations

import gc

from assay.traces import cost

YOUNG = 10_000  # allocations between two collections of the youngest generation (700)


def settle() -> None:
    """Freeze what exists now and collect less often; for a server process, once."""
    cost.load()  # the price table, loaded on first use otherwise, is frozen with the rest
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
