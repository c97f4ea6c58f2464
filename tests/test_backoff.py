"""Delivery retries (run writer and request log): exponential, jittered, capped, and
the first failure of a run of them is the one reported."""

from __future__ import annotations

import time

from assay.sdk.backoff import Backoff


def test_the_first_failure_is_reported_and_the_delay_grows_to_the_cap() -> None:
    backoff = Backoff(base=0.5)
    assert backoff.due() and backoff.wait() == 0.0
    assert backoff.failed(cap=30.0) is True
    first = backoff.retry_at - time.time()
    assert 0.4 <= first <= 1.0 and not backoff.due()  # 0.5 x 2, jittered by half
    assert backoff.failed(cap=30.0) is False
    for _ in range(20):
        backoff.failed(cap=30.0)
    assert 14.0 <= backoff.wait() <= 30.0


def test_success_starts_over_and_says_whether_delivery_resumed() -> None:
    backoff = Backoff(base=0.25)
    assert backoff.succeeded() is False
    backoff.failed(cap=1.0)
    backoff.failed(cap=1.0)
    assert backoff.succeeded() is True and backoff.failures == 0
    assert backoff.failed(cap=1.0) is True  # a new run of failures is reported again
