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
