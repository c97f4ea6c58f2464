"""Formatting for pages that never fails: a stored row may hold a time or a number no
validation let through today (written by an older Assay, or straight into the database).
One bad row shows as "-" or its raw number; it never turns a page into a 500."""

from __future__ import annotations

from typing import Any

from assay import text

_UNSHOWABLE = (OverflowError, OSError, ValueError, TypeError)


def fmt(value: Any, digits: int = 4) -> str:
    try:
        return text.fmt(value, digits)
    except _UNSHOWABLE:  # say, an int too long to print (Python caps int-to-text)
        return "-"


def when(ts: Any) -> str:
    """A time as local date and time; one out of the calendar's range as its raw number."""
    try:
        return text.when(ts)
    except _UNSHOWABLE:
        return fmt(ts)


def fmt_duration(seconds: Any) -> str:
    try:
        return text.fmt_duration(seconds)
    except _UNSHOWABLE:  # infinite or NaN: a run with an impossible start or end
        return "-"


def fmt_bytes(size: Any) -> str:
    try:
        return text.fmt_bytes(size)
    except _UNSHOWABLE:
        return fmt(size)
