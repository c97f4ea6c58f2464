"""Retrying delivery to a store, for the run writer and the request log: how many tries
failed in a row and when to try again (exponential backoff with jitter, capped)."""

from __future__ import annotations

import random
import time


class Backoff:
    def __init__(self, base: float) -> None:
        self.base = base  # seconds before the first retry, before jitter
        self.failures = 0
        self.retry_at = 0.0  # Unix seconds

    def due(self) -> bool:
        return time.time() >= self.retry_at

    def wait(self) -> float:
        """Seconds until the next try is due (0 when it is)."""
        return max(0.0, self.retry_at - time.time())

    def failed(self, cap: float) -> bool:
        """Count a failed try and set when to try again (at most ``cap`` seconds away);
        True for the first failure in a row, the one to log."""
        self.failures += 1
        delay = min(cap, self.base * 2 ** min(self.failures, 8)) * random.uniform(0.5, 1.0)
        self.retry_at = time.time() + delay
        return self.failures == 1

    def succeeded(self) -> bool:
        """Start over; True when tries had failed before (delivery resumes: say so)."""
        resumed = self.failures > 0
        self.failures = 0
        return resumed
