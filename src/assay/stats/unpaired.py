"""Unpaired differences: two independent samples (the arms of an A/B split, where each
caller saw one arm), compared by Welch's t (unequal variances), as scipy's
``ttest_ind(equal_var=False)``. For a pass rate (0/1 values) it is the unpooled
two-proportion z-test with a t reference, which is what an A/B dashboard reports."""

from __future__ import annotations

import math

import numpy as np

from assay.stats.bootstrap import LEVEL, Array, finite
from assay.stats.estimates import t_interval
from assay.stats.paired import Difference


def welch_difference(candidate: Array, baseline: Array, level: float = LEVEL) -> Difference:
    """candidate - baseline of two independent samples' means, Welch's standard error,
    Welch-Satterthwaite degrees of freedom, a t interval and a two-sided p-value. With fewer
    than two values on a side the standard error is unknown (nan): nothing is decided."""
    from scipy import stats

    c, b = finite(candidate), finite(baseline)
    n_c, n_b = len(c), len(b)
    diff = float(c.mean() - b.mean()) if n_c and n_b else math.nan
    if n_c < 2 or n_b < 2:
        return Difference(
            diff=diff,
            se=math.nan,
            low=math.nan,
            high=math.nan,
            n=n_c + n_b,
            p_value=1.0,
            test="Welch t",
            df=math.nan,
        )
    v_c, v_b = float(np.var(c, ddof=1)) / n_c, float(np.var(b, ddof=1)) / n_b
    se = math.sqrt(v_c + v_b)
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        return Difference(
            diff=diff,
            se=0.0,
            low=diff,
            high=diff,
            n=n_c + n_b,
            p_value=p,
            test="Welch t",
            df=float(n_c + n_b - 2),
        )
    df = (v_c + v_b) ** 2 / (v_c**2 / (n_c - 1) + v_b**2 / (n_b - 1))
    low, high = t_interval(diff, se, df, level)
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Difference(
        diff=diff, se=se, low=low, high=high, n=n_c + n_b, p_value=p, test="Welch t", df=df
    )
