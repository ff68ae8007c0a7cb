"""Datetimes: stored and compared as UTC instants, returned in local time."""

from __future__ import annotations

import time
from datetime import datetime, timezone

_EXPECTED = "Expected datetime, iso formatted date or unix timestamp"
# Instants are kept to the microsecond, the resolution of ``datetime``: a value read back
# as a datetime and used in a filter then compares equal to the stored one.
_DIGITS = 6


def to_epoch(value) -> float:
    """Seconds since the epoch (UTC) for a datetime, ISO-8601 string or unix timestamp.

    A naive datetime is taken as local time; a trailing ``Z`` in a string means UTC.
    """
    if isinstance(value, bool):
        raise ValueError(_EXPECTED)
    if isinstance(value, (int, float)):
        return round(float(value), _DIGITS)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.astimezone()  # naive means local
        return round(value.timestamp(), _DIGITS)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return to_epoch(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise ValueError(_EXPECTED)


def from_epoch(value: float | None) -> datetime | None:
    """A timezone-aware datetime in local time, or None."""
    if value is None:
        return None
    return datetime.fromtimestamp(value, timezone.utc).astimezone()


def iso_utc(value: float) -> str:
    """ISO-8601 UTC with a trailing ``Z``, e.g. ``2024-01-01T00:00:00.123456Z``."""
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> float:
    """The current time as seconds since the epoch, to the microsecond."""
    return round(time.time(), _DIGITS)
