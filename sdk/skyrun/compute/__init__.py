"""The compute API: Functions, Jobs, their statuses, results and searches."""

from skyrun.client import ComputeClient
from skyrun.compute.bulk import JobBulkCreateError, JobBulkCreateResult
from skyrun.compute.function import Function
from skyrun.compute.job import Job, JobSearch
from skyrun.compute.result import ComputeResult, Serializable
from skyrun.compute.search import Search
from skyrun.compute.statistics import (
    CpuStatistics,
    JobStatistics,
    MemoryStatistics,
    NetworkStatistics,
)
from skyrun.compute.statuses import FunctionStatus, JobStatus
from skyrun.domain.limits import Cpus, Memory


class BoundGlobalError(NameError):
    """Kept so that old imports work; never raised (callables are pickled with
    cloudpickle, which captures globals)."""


__all__ = [
    "ComputeClient",
    "ComputeResult",
    "Function",
    "FunctionStatus",
    "Job",
    "JobSearch",
    "JobStatus",
    "Search",
    "Serializable",
]

_ = (JobBulkCreateError, JobBulkCreateResult, Cpus, Memory, CpuStatistics, JobStatistics,
     MemoryStatistics, NetworkStatistics)
