"""Many tests at once: Holm's step-down adjustment, the confidence level each test is held
to under it, and the three-way decision (fail, pass, inconclusive) a gate reads from them."""

from __future__ import annotations

from collections.abc import Sequence

from assay.stats.bootstrap import LEVEL


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1), as statsmodels'
    ``multipletests(method="holm")``."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(pvalues: Sequence[float], level: float = LEVEL) -> list[float]:
    """The confidence level each regression test is held to under Holm's procedure, as a
    two-sided interval whose far end decides it: the i-th smallest p-value, when rejected, is
    tested at tail alpha/(m-i); every test not rejected at alpha/(m-k), k the rejections. So
    a check fails exactly when its interval at this level lies wholly beyond the tolerance
    (the compatible intervals of Strassburger and Bretz, 2008, for what is not rejected)."""
    alpha = (1 - level) / 2
    m = len(pvalues)
    adjusted = holm(pvalues)
    rejected = sum(1 for p in adjusted if p < alpha)
    order = sorted(range(m), key=lambda i: pvalues[i])
    levels = [level] * m
    for rank, i in enumerate(order):
        held = rank if adjusted[i] < alpha else rejected
        levels[i] = 1 - 2 * alpha / (m - held)
    return levels


def decide(p_fail_adjusted: float, p_pass: float, level: float = LEVEL) -> str:
    """Fail when the (Holm-adjusted) regression test rejects; pass when the CI's near end is
    above -tolerance; inconclusive otherwise."""
    alpha = (1 - level) / 2
    if p_fail_adjusted < alpha:
        return "fail"
    if p_pass < alpha:
        return "pass"
    return "inconclusive"
