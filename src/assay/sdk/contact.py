"""First contact with a store: bounded in time, and sorted into outages (the run goes on
with its journal) and refusals (``assay.init`` raises, naming the cause)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from assay.errors import (
    AssayError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SchemaMismatch,
    StoreUnavailable,
    StoreUnusable,
    Unauthorized,
)
from assay.redact import redact_text, redact_uri

T = TypeVar("T")

# Not reaching the store, or no answer in time: the run goes on, its journal keeps the data.
OUTAGE: tuple[type[Exception], ...] = (StoreUnavailable, OSError)
# What the store says when it will never take this run as given; retrying cannot help.
_REFUSALS: tuple[tuple[type[AssayError], str], ...] = (
    (Unauthorized, "does not accept the API key (set ASSAY_API_KEY or run `assay login`)"),
    (Forbidden, "refuses this key the role the run needs"),
    (SchemaMismatch, "has a schema this Assay cannot use"),
    (StoreUnusable, "cannot be used"),
    (InvalidInput, "rejected the request"),
    (Conflict, "rejected the request"),
    (NotFound, "does not have it"),
)


def bounded(call: Callable[[], T], timeout: float, what: str) -> T:
    """``call()`` in a helper thread; its result or its exception, or StoreUnavailable
    when it has not answered within ``timeout`` seconds (it is then left to finish)."""
    box: list[tuple[bool, object]] = []

    def attempt() -> None:
        try:
            box.append((True, call()))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=attempt, name="assay-contact", daemon=True)
    thread.start()
    thread.join(timeout)
    if not box:
        raise StoreUnavailable(f"{what}: no answer within {timeout:g} s")
    ok, value = box[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]


def refusal(exc: BaseException, uri: str) -> AssayError:
    """The error ``assay.init`` raises for a store that refused it: the same kind (any
    other error becomes StoreUnusable), naming the store with its password hidden."""
    detail = redact_text(str(exc)) or type(exc).__name__
    for kind, verb in _REFUSALS:
        if isinstance(exc, kind):
            return kind(f"the store at {redact_uri(uri)} {verb}: {detail}")
    return StoreUnusable(
        f"the store at {redact_uri(uri)} cannot be used: {type(exc).__name__}: {detail}"
    )
