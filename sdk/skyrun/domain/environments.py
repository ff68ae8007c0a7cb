"""The identity of a built environment (a local virtual environment, or an image on AWS):
the requirement lines as they affect an install, and the hash of Python version,
requirements and runtime pins. Two Functions with the same hash share one environment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable


def normalize_requirements(requirements: Iterable[str]) -> list[str]:
    """Requirement lines as they affect an install: stripped, inner whitespace collapsed,
    without blank or comment lines, first occurrence kept. Order is kept because pip
    options (``--index-url``, ``-f``) may depend on it."""
    out: list[str] = []
    for line in requirements:
        line = " ".join(str(line).split())
        if line and not line.startswith("#") and line not in out:
            out.append(line)
    return out


def environment_hash(python: str, requirements: Iterable[str],
                     runtime: Iterable[str] = ()) -> str:
    """The id of the environment for Python ``major.minor``, the requirements and the
    runtime packages (``name==version`` pins) the backend adds. Two Functions with the
    same hash share one environment."""
    key = json.dumps({"python": python,
                      "requirements": normalize_requirements(requirements),
                      "runtime": sorted(runtime)}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:24]
