"""What ``assay serve`` was asked for, passed to each worker process through the environment."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from assay.errors import InvalidInput
from assay.serving.cost import Limits
from assay.serving.loader import target

ENV = "ASSAY_SERVE_CONFIG"


@dataclass(frozen=True)
class ServeConfig:
    models: tuple[str, ...]  # model URIs: models:/name@alias, models:/name/3, project/name:v3
    uri: str | None = None  # the store (default: ASSAY_URI, else ~/.assay)
    project: str | None = None  # for artifact references without a project
    max_batch_size: int = 64
    max_latency_ms: float = 5.0
    max_queue_ms: float = 1000.0
    allow_pickle: bool = False
    poll_interval: float = 1.0  # seconds between checks for alias moves (0: never)
    traffic: bool = True  # follow registered models' traffic policies (served by alias)
    report_interval: float = 60.0  # seconds between per-arm counts in the log (0: at exit)
    log_sample: float = 1.0  # fraction of requests written to the request log (0: none)
    url: str | None = None  # where callers reach this server, announced to the store
    announce_interval: float = 10.0  # seconds between announcements to the store (0: none)

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidInput("give at least one model URI to serve")
        if self.max_batch_size < 1:
            raise InvalidInput("--max-batch-size must be at least 1")
        if self.max_latency_ms <= 0 or self.max_queue_ms <= 0:
            raise InvalidInput("--max-latency-ms and --max-queue-ms must be positive")
        if not 0.0 <= self.log_sample <= 1.0:
            raise InvalidInput(
                f"--log-sample must be a fraction from 0 to 1, not {self.log_sample}"
            )
        if not 0.0 <= self.announce_interval <= 3600:
            raise InvalidInput(
                f"--announce-interval must be 0 to 3600 seconds, not {self.announce_interval}"
            )
        names = [target(uri).name for uri in self.models]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput(f"two served models are named {twice[0]!r}: serve each name once")

    @property
    def limits(self) -> Limits:
        return Limits(
            max_batch_size=self.max_batch_size,
            max_latency_s=self.max_latency_ms / 1000,
            max_queue_s=self.max_queue_ms / 1000,
            max_queue_rows=max(1024, 1024 * self.max_batch_size),
        )

    def to_env(self) -> dict[str, str]:
        return {ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(ENV)
        if not raw:
            raise InvalidInput(f"{ENV} is not set: start the model server with `assay serve`")
        values = json.loads(raw)
        values["models"] = tuple(values["models"])
        return cls(**values)
