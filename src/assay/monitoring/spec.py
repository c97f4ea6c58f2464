"""What a monitor watches: its definition, kept as the config of the monitor's run.

Windows are aligned on ``origin`` (epoch seconds): window ``k`` holds the requests with
``origin + k * window <= time < origin + (k + 1) * window`` and is logged at step ``k``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from assay.errors import InvalidInput
from assay.monitoring.alerts import Rule

SCORERS = ("accuracy", "mae")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"90s"``, ``"10m"``, ``"1h"``, ``"1d"`` or a plain number of seconds."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise InvalidInput(f"{text!r} is not a duration: write e.g. 30s, 10m, 1h or 1d")
        seconds = float(match.group(1)) * _UNIT[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(f"a duration must be positive, got {text!r}")
    return seconds


@dataclass(kw_only=True)
class MonitorSpec:
    """``model`` is a registered model's name; ``selector`` an alias or version it follows
    (None: all its traffic); ``reference`` the profile artifact (``project/name:vN``)."""

    model: str
    window: float  # seconds
    origin: float  # epoch seconds, a multiple of ``window``
    selector: str | None = None
    reference: str | None = None
    reference_data: str | None = None  # the dataset the reference profile was made from
    features: list[str] | None = None  # None: the reference's columns but the label
    prediction: str | None = None  # the output compared with labels; None: the only output
    scorer: str = "accuracy"
    alpha: float = 0.01
    alerts: list[str] = field(default_factory=list)
    webhook: str | None = None
    label_horizon: int = 24  # windows in which late labels are still joined

    def __post_init__(self) -> None:
        if not self.model:
            raise InvalidInput("a monitor needs a model")
        if self.scorer not in SCORERS:
            raise InvalidInput(f"scorer {self.scorer!r} is unknown; use {' or '.join(SCORERS)}")
        if not 0 < self.alpha < 1:
            raise InvalidInput(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.webhook is not None and not re.match(r"^https?://", self.webhook):
            raise InvalidInput(f"webhook {self.webhook!r} must be an http(s) URL")
        for rule in self.alerts:
            Rule.parse(rule)  # refuse a bad rule when the monitor is added

    @property
    def rules(self) -> list[Rule]:
        return [Rule.parse(r) for r in self.alerts]

    def bounds(self, step: int) -> tuple[datetime, datetime]:
        start = self.origin + step * self.window
        return _utc(start), _utc(start + self.window)

    def last_closed(self, now: float) -> int:
        """The newest window that has ended by ``now`` (-1: none yet)."""
        return math.floor((now - self.origin) / self.window) - 1

    def to_config(self) -> dict[str, Any]:
        return {"monitor": asdict(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MonitorSpec:
        body = config.get("monitor")
        if not isinstance(body, dict):
            raise InvalidInput("this run is not a monitor (its config has no 'monitor')")
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def aligned_origin(now: float, window: float) -> float:
    """The start of the window holding ``now``: monitors begin with the current window."""
    return math.floor(now / window) * window


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
