"""The statuses of Functions and jobs, and the sets of them every layer counts by.

Written once here; the SDK (``skyrun.compute.statuses`` re-exports the enums), the
adapters, the worker, the CLI and the monitor all import them from this module.
"""

from __future__ import annotations

from enum import Enum

# -- jobs ---------------------------------------------------------------------------------
PENDING, RUNNING, CANCEL, CANCELING = "pending", "running", "cancel", "canceling"
SUCCESS, FAILURE, TIMEOUT, CANCELED = "success", "failure", "timeout", "canceled"
#: Every job status, in the order lists and pages show them.
JOB_STATUSES = (PENDING, RUNNING, CANCEL, CANCELING, SUCCESS, FAILURE, TIMEOUT, CANCELED)
#: The statuses that hold a worker slot (in this order wherever a query lists them).
ACTIVE_STATUSES = (RUNNING, CANCEL, CANCELING)
#: The statuses a job ends in.
ENDED_STATUSES = (SUCCESS, FAILURE, TIMEOUT, CANCELED)
#: Queued or holding a worker slot: a job not yet ended.
LIVE_STATUSES = (PENDING, *ACTIVE_STATUSES)
ACTIVE = frozenset(ACTIVE_STATUSES)
TERMINAL = frozenset(ENDED_STATUSES)

# -- Functions ----------------------------------------------------------------------------
AWAITING_BUNDLE, BUILDING, BUILD_FAILED = "awaiting_bundle", "building", "build_failed"
READY, STOPPED = "ready", "stopped"
#: Every Function status.
FUNCTION_STATUSES = (AWAITING_BUNDLE, BUILDING, BUILD_FAILED, READY, STOPPED)
#: A Function whose build has not ended yet.
BUILDING_STATUSES = (AWAITING_BUNDLE, BUILDING)


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class FunctionStatus(_StrEnum):
    """Where a Function is in its lifecycle."""

    AWAITING_BUNDLE = AWAITING_BUNDLE
    BUILDING = BUILDING
    BUILD_FAILED = BUILD_FAILED
    READY = READY
    STOPPED = STOPPED


class JobStatus(_StrEnum):
    """Where a Job is in its lifecycle."""

    PENDING = PENDING
    RUNNING = RUNNING
    CANCEL = CANCEL
    CANCELING = CANCELING
    SUCCESS = SUCCESS
    FAILURE = FAILURE
    TIMEOUT = TIMEOUT
    CANCELED = CANCELED

    @classmethod
    def terminal(cls) -> list[JobStatus]:
        """The statuses a job ends in."""
        return [cls(s) for s in ENDED_STATUSES]

    @classmethod
    def active(cls) -> list[JobStatus]:
        """The statuses that hold a worker slot."""
        return [cls(s) for s in ACTIVE_STATUSES]
