"""Configuration read from the environment: which backend, and where local state lives."""

from __future__ import annotations

import os
from pathlib import Path

BACKENDS = ("local", "aws")


def backend_name(explicit: str | None = None) -> str:
    """The backend to use: ``explicit``, else ``$SKYRUN_BACKEND``, else ``local``."""
    name = (explicit or os.environ.get("SKYRUN_BACKEND") or "local").strip().lower()
    if name not in BACKENDS:
        from skyrun.exceptions import ValidationError

        raise ValidationError.single(
            "backend", f"{name!r} is not a backend; allowed: {', '.join(BACKENDS)}"
        )
    return name


def home() -> Path:
    """The local state directory: ``$SKYRUN_HOME``, default ``~/.skyrun``."""
    value = os.environ.get("SKYRUN_HOME")
    return Path(value).expanduser().resolve() if value else Path.home() / ".skyrun"


#: The variable that sets how long a job's claim lasts unless its worker renews it.
LEASE_VARIABLE = "SKYRUN_LEASE_SECONDS"
#: A claim's lease when ``$SKYRUN_LEASE_SECONDS`` is not set.
DEFAULT_LEASE_SECONDS = 10.0
#: The leases ``$SKYRUN_LEASE_SECONDS`` may ask for: renewals come every quarter of a
#: lease, so below a second they would be requests on end.
LEASE_SECONDS_RANGE = (1.0, 3600.0)


def lease_seconds() -> float:
    """How long a claim (and a worker's slots) lasts unless renewed: ``$SKYRUN_LEASE_SECONDS``,
    default 10. A lost worker's job is requeued, and its slot freed, this long after its
    last renewal; every other lease and heartbeat period is derived from it. Read on each
    use, so that a process sees the value of its own environment."""
    raw = os.environ.get(LEASE_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_LEASE_SECONDS
    low, high = LEASE_SECONDS_RANGE
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for nan
        from skyrun.exceptions import ValidationError

        raise ValidationError.single(
            LEASE_VARIABLE, f"{raw!r} is not a lease in seconds; allowed: a number from "
                            f"{low:g} to {high:g} (default {DEFAULT_LEASE_SECONDS:g})")
    return value
