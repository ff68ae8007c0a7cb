"""The environment variable names the runtime reserves: a Function or a job may not set
them. (The hash that identifies a built environment is :mod:`skyrun.domain.environments`.)"""

from __future__ import annotations

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
