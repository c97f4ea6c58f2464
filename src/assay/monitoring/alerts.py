"""Alert rules on a monitor's series: ``drift``, ``error_rate > 0.02 for 10m``,
``p99_ms > 50``, ``version=3/accuracy < 0.9``.

A rule is ``SERIES [OP NUMBER] [for DURATION]``. A bare series holds when its value is
not 0 (``drift`` is 1 on a drifted window). With ``for``, the condition must hold on
every window of the last DURATION (at least one window). A window where the series has
no value (no traffic, no labels yet) decides nothing: the alert keeps its state.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from assay.errors import InvalidInput

ALIASES = {
    "p50_ms": "latency_p50_ms",
    "p99_ms": "latency_p99_ms",
    "p50": "latency_p50_ms",
    "p99": "latency_p99_ms",
    "errors": "error_rate",
}
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_RULE = re.compile(
    r"^\s*(?P<series>[^\s<>!]+?)"
    r"(?:\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?"
    r"(?:\s+for\s+(?P<for>\d+(?:\.\d+)?\s*[smhd]?))?\s*$"
)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, kw_only=True)
class Rule:
    text: str
    series: str
    op: str = "!="
    threshold: float = 0.0
    duration: float = 0.0  # seconds; 0: the latest window alone

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text)
        if match is None:
            raise InvalidInput(
                f"alert rule {text!r} is not SERIES [OP NUMBER] [for DURATION], "
                "e.g. 'drift', 'error_rate > 0.02 for 10m', 'p99_ms > 50'"
            )
        series = ALIASES.get(match["series"], match["series"])
        duration = 0.0
        if match["for"]:
            spec = match["for"].replace(" ", "")
            unit = spec[-1] if spec[-1] in _SECONDS else "s"
            duration = float(spec.rstrip("smhd")) * _SECONDS[unit]
        if match["op"] is None:
            return cls(text=text.strip(), series=series, duration=duration)
        return cls(
            text=text.strip(),
            series=series,
            op=match["op"],
            threshold=float(match["value"]),
            duration=duration,
        )

    def windows(self, window: float) -> int:
        """How many consecutive windows must hold: those covering the duration."""
        return max(1, math.ceil(self.duration / window - 1e-9))

    def check(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def holds(self, values: Mapping[int, float], step: int, window: float) -> bool | None:
        """Whether the rule holds at ``step`` given the series' values by step; None when
        the series has no value at ``step``."""
        latest = values.get(step)
        if latest is None or not math.isfinite(latest):
            return None
        needed = self.windows(window)
        for k in range(step - needed + 1, step + 1):
            value = values.get(k)
            if value is None or not math.isfinite(value) or not self.check(value):
                return False
        return True


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a rule says at a window: ``holds`` (None: no value), the value seen."""

    rule: Rule
    step: int
    holds: bool | None
    value: float | None


def judge(rule: Rule, values: Mapping[int, float], window: float) -> Verdict | None:
    """The rule at the newest step with a value (None when the series is empty)."""
    known = [s for s, v in values.items() if math.isfinite(v)]
    if not known:
        return None
    step = max(known)
    return Verdict(rule=rule, step=step, holds=rule.holds(values, step, window), value=values[step])
