"""Labeling: consensus labels, annotator quality, agreement statistics, preferences.

Names load on first use, so importing this package costs nothing until one is touched::

    from assay.labeling import consensus, aggregate, agreement, bradley_terry

See docs/labeling.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {
    "consensus": "assay.labeling.consensus",
    "aggregate": "assay.labeling.consensus",
    "ConsensusResult": "assay.labeling.consensus",
    "choose_method": "assay.labeling.consensus",
    "agreement": "assay.labeling.agreement",
    "Agreement": "assay.labeling.agreement",
    "krippendorff_alpha": "assay.labeling.agreement",
    "fleiss_kappa": "assay.labeling.agreement",
    "percent_agreement": "assay.labeling.agreement",
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
