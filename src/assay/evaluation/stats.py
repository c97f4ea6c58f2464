"""The statistics of evaluations live in ``assay.stats`` (shared with labeling and
monitoring); this name stays for code that imports ``assay.evaluation.stats``."""

from __future__ import annotations

from assay.stats import *  # noqa: F403
from assay.stats import __all__ as __all__
