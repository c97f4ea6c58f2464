"""Labeling: consensus labels, annotator quality, agreement statistics, preferences.

Names load on first use, so importing this package costs nothing until one is touched::

    from assay.labeling import consensus, aggregate, agreement, bradley_terry

See docs/labeling.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {
    "consensus": "assay.labeling.aggregation",
    "aggregate": "assay.labeling.aggregation",
    "ConsensusResult": "assay.labeling.aggregation",
    "choose_method": "assay.labeling.aggregation",
    "agreement": "assay.labeling.stats",
    "Agreement": "assay.labeling.stats",
    "krippendorff_alpha": "assay.labeling.stats",
    "fleiss_kappa": "assay.labeling.stats",
    "percent_agreement": "assay.labeling.stats",
    "bradley_terry": "assay.labeling.preferences",
    "Ranking": "assay.labeling.preferences",
    "read_labels": "assay.labeling.io",
    "read_label_studio": "assay.labeling.io",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.labeling' has no attribute {name!r}")
    return getattr(import_module(module), name)
