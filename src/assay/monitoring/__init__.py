"""Monitoring: profiles of tables and drift between two windows of data.

    from assay.monitoring import profile, drift
    ref = profile(training_frame)            # mergeable, serialisable (to_bytes/from_bytes)
    report = drift(ref, todays_frame)        # Holm over columns: family-wise alpha
    report.drifted, report.features["age"].p_value, print(report.summary())

    assay.monitoring.log("models:/churn@production", inputs, outputs, ids=ids)

A domain package: it depends on numpy, scipy, datasketches and pandas/pyarrow only (the
last three imported when first needed), never on the store, the SDK or the server.
``log`` and ``flush_requests`` (the request log, docs/monitoring.md) are the SDK's
(sdk/requests.py): the ``assay`` package, above every layer, hands them over on first use.
"""

from typing import Any

from assay.monitoring.drift import DriftReport, FeatureDrift, drift
from assay.monitoring.profile import ColumnProfile, Profile, profile

__all__ = [
    "ColumnProfile",
    "DriftReport",
    "FeatureDrift",
    "Profile",
    "drift",
    "flush_requests",
    "log",
    "profile",
]


def __getattr__(name: str) -> Any:
    import assay

    return assay._attached(__name__, name)
