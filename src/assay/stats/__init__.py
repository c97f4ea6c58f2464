"""Statistics shared by evaluation, labeling and monitoring: estimates with standard errors,
paired differences, multiple testing, power.

Everything here is pure numpy/scipy over per-item arrays; tests check each figure against
scipy and statsmodels. Conventions:

- a *unit* is what is sampled independently: an item, or a cluster of items when a cluster
  column is given (items sharing a passage, a user, a topic are not independent);
- means get the CLT standard error (cluster-robust when there are clusters) and a t interval
  with n-1 (clusters-1) degrees of freedom; pass rates get Wilson's interval (Agresti-Min's
  when paired), on the effective number of items when there are clusters; metrics that are
  not means (F1, AUC, RMSE) get a percentile bootstrap over units;
- a difference is always candidate - baseline on the same items, oriented so that positive
  is better when the gate reads it (``higher_is_better=False`` flips the sign).

Modules: ``estimates`` (one sample), ``bootstrap`` (resampling, ``Sums``), ``paired``
(differences and their tests), ``unpaired`` (Welch's t for two independent
samples, the arms of an A/B split), ``multiple`` (Holm, the gate's decision), ``power``.
"""

from __future__ import annotations

from assay.stats.bootstrap import (
    BOOTSTRAP_DRAWS,
    LEVEL,
    Array,
    Metric,
    Sums,
    resamples,
    value_of,
)
from assay.stats.estimates import (
    Estimate,
    bootstrap_estimate,
    clustered_se,
    effective_items,
    is_binary,
    mean_estimate,
    t_estimate,
    wilson,
)
from assay.stats.multiple import decide, holm, holm_levels
from assay.stats.paired import (
    Difference,
    clustered_mcnemar,
    interval,
    mcnemar_exact,
    more_items,
    one_sided,
    paired_bootstrap,
    paired_difference,
    paired_proportions,
)
from assay.stats.power import Power, items_for_power
from assay.stats.unpaired import welch_difference

__all__ = [
    "BOOTSTRAP_DRAWS",
    "LEVEL",
    "Array",
    "Difference",
    "Estimate",
    "Metric",
    "Power",
    "Sums",
    "bootstrap_estimate",
    "clustered_mcnemar",
    "clustered_se",
    "decide",
    "effective_items",
    "holm",
    "holm_levels",
    "interval",
    "is_binary",
    "items_for_power",
    "mcnemar_exact",
    "mean_estimate",
    "more_items",
    "one_sided",
    "paired_bootstrap",
    "paired_difference",
    "paired_proportions",
    "resamples",
    "t_estimate",
    "value_of",
    "welch_difference",
    "wilson",
]
