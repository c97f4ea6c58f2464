"""How many items a paired comparison needs: the exact noncentral-t power of the paired t
test."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Power:
    items: int
    sd: float
    effect: float
    assumed: str


def items_for_power(
    baseline_rate: float | None,
    delta: float,
    *,
    paired_sd: float | None = None,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Power:
    """Items a paired comparison needs to detect a drop of ``delta`` beyond ``tolerance``
    with the given power (two-sided test at ``alpha``; the exact noncentral-t power of the
    paired t test, as statsmodels' ``TTestPower``). Without ``paired_sd`` the two models'
    pass/fail outcomes are taken as independent, the widest case for a pair of models
    evaluated on the same items."""
    from scipy import stats

    effect = delta - tolerance
    if effect <= 0:
        raise ValueError(f"delta ({delta}) must exceed the tolerance ({tolerance})")
    if paired_sd is not None:
        sd, assumed = paired_sd, f"per-item difference sd {paired_sd:g}"
    else:
        if baseline_rate is None or not 0 < baseline_rate < 1:
            raise ValueError("give --baseline-rate between 0 and 1, or --paired-sd")
        worse = min(max(baseline_rate - delta, 0.0), 1.0)
        sd = math.sqrt(baseline_rate * (1 - baseline_rate) + worse * (1 - worse))
        assumed = "independent outcomes (no --paired-sd given)"

    def achieved(n: int) -> float:
        df = n - 1
        crit = stats.t.ppf(1 - alpha / 2, df)
        nc = effect / sd * math.sqrt(n)
        return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))

    low, high = 2, 2
    while achieved(high) < power:
        low, high = high, high * 2
    while low < high:
        mid = (low + high) // 2
        if achieved(mid) >= power:
            high = mid
        else:
            low = mid + 1
    return Power(high, sd, effect, assumed)
