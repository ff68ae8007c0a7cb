"""``FunctionStatus`` and ``JobStatus``: string enums."""

from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return self.value


class FunctionStatus(_StrEnum):
    """Where a Function is in its lifecycle."""

    AWAITING_BUNDLE = "awaiting_bundle"
    BUILDING = "building"
    BUILD_FAILED = "build_failed"
    READY = "ready"
    STOPPED = "stopped"


class JobStatus(_StrEnum):
    """Where a Job is in its lifecycle."""

    PENDING = "pending"
    RUNNING = "running"
    CANCEL = "cancel"
    CANCELING = "canceling"
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    CANCELED = "canceled"

    @classmethod
    def terminal(cls) -> list[JobStatus]:
        """The statuses a job ends in."""
        return [cls.SUCCESS, cls.FAILURE, cls.TIMEOUT, cls.CANCELED]

    @classmethod
    def active(cls) -> list[JobStatus]:
        """The statuses that hold a worker slot."""
        return [cls.RUNNING, cls.CANCEL, cls.CANCELING]


TERMINAL = frozenset(s.value for s in JobStatus.terminal())
ACTIVE = frozenset(s.value for s in JobStatus.active())
