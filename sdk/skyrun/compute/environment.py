"""Rules about a Function's environment that every backend shares: which variable names
the runtime reserves, and the hash that identifies a built environment (a local virtual
environment, or an image on AWS)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from skyrun_runtime.protocol import ENV_CONTROL_FDS, ENV_WORKER_PID

# Set by the worker for every job (API 10.4), or used by the worker and executor
# themselves: a user value would be overwritten or would break the job's process.
RESERVED_VARIABLES = frozenset({
    "SKYRUN_BACKEND", "SKYRUN_HOME", "SKYRUN_STACK", "SKYRUN_ORG", "SKYRUN_USER",
    "SKYRUN_FUNCTION_ID", "SKYRUN_JOB_ID", "SKYRUN_WORK_DIR", ENV_CONTROL_FDS,
    ENV_WORKER_PID,
})


def reserved_in(environment: Mapping | None) -> list[str]:
    """The reserved names ``environment`` sets, sorted."""
    if not isinstance(environment, Mapping):
        return []
    return sorted(name for name in environment if name in RESERVED_VARIABLES)


def reserved_message(names: Iterable[str]) -> str:
    """The explanation for setting reserved names."""
    return (f"sets {', '.join(names)}, reserved by the skyrun runtime; reserved names: "
            f"{', '.join(sorted(RESERVED_VARIABLES))}")


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
