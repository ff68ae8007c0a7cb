"""``FunctionStatus`` and ``JobStatus``: string enums (defined in
:mod:`skyrun.domain.statuses`, the one home of every status and status set)."""

from skyrun.domain.statuses import ACTIVE, TERMINAL, FunctionStatus, JobStatus

__all__ = ["ACTIVE", "TERMINAL", "FunctionStatus", "JobStatus"]
