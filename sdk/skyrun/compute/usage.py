"""``Function.usage()``: what a Function's jobs used and, on AWS, what they cost.

The figures come from the store's aggregates (``Store.job_summary``), so they are summed
in the store's queries however many jobs there are. They cover the *last attempt* of
each finished job (success, failure, timeout, canceled): earlier attempts of retried jobs
keep no timings. Runtime is ``last_completion_date - last_execution_date``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from skyrun.backends.ports import Backend
from skyrun.common.timeutil import now
from skyrun.compute import pricing
from skyrun.domain import targets


@dataclass(frozen=True)
class Usage:
    """Resources a Function's finished jobs used.

    Every backend: ``jobs`` (finished jobs counted), ``runtime_seconds`` (their summed
    runtime), ``cpu_seconds`` (measured CPU time) and ``peak_memory_bytes`` (the largest
    measured peak, or None). On AWS also ``vcpu_seconds`` and ``gb_seconds`` (the
    Function's ``cpus`` and ``memory`` times the runtime) and ``cost``, an estimate from
    :mod:`skyrun.compute.pricing`; None on the embedded backend.
    """

    backend: str
    jobs: int
    runtime_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int | None
    vcpu_seconds: float | None = None
    gb_seconds: float | None = None
    cost: pricing.Cost | None = None

    def to_dict(self) -> dict:
        """The fields as a dict (``cost`` as a dict too)."""
        data = asdict(self)
        data["cost"] = self.cost.to_dict() if self.cost is not None else None
        return data


def from_totals(backend: str, totals: dict, cpus: float, memory_mb: float,
                maximum_concurrency: int, compute_target: str = "fargate",
                region: str | None = None) -> Usage:
    """The usage of a summary's ``totals``; priced when ``backend`` is ``aws``.

    On Fargate the workers are tasks, each billed at least a minute; a worker runs many
    jobs one after another, so the estimate counts ``min(maximum_concurrency, jobs)``
    tasks (the launcher starts at most that many at once).
    """
    jobs, runtime = totals["finished"], float(totals["runtime_seconds"])
    usage = Usage(backend=backend, jobs=jobs, runtime_seconds=runtime,
                  cpu_seconds=float(totals["cpu_seconds"]),
                  peak_memory_bytes=totals["peak_bytes"])
    if backend != "aws":
        return usage
    tasks = min(maximum_concurrency, jobs)
    memory_mb = billed_memory(compute_target, cpus, memory_mb)
    cost = pricing.price(compute_target, region, cpus, memory_mb, runtime, jobs, tasks)
    return Usage(**{**asdict(usage), "cost": cost, "vcpu_seconds": cpus * runtime,
                    "gb_seconds": memory_mb / 1024.0 * runtime})


def compute_target_of(fn) -> str:
    """Where the Function's jobs run on AWS, for pricing: ``"lambda"`` or ``"fargate"``
    (Batch), by the rule of :func:`skyrun.domain.targets.choose`."""
    return compute_target_of_record({"compute_target": getattr(fn, "compute_target", None),
                                     "timeout": fn.timeout, "cpus": fn.cpus,
                                     "memory": fn.memory})


def backend_region(backend: Backend) -> str | None:
    """The AWS region of a backend, or None."""
    if backend.name != "aws":
        return None
    from skyrun.backends.aws.session import region

    return region()


def function_usage(fn, summary: dict | None = None) -> Usage:
    """The usage of a saved Function (from ``summary`` when one is at hand)."""
    backend = fn._client.backend
    if summary is None:
        summary = backend.store.job_summary(fn.id, now(), buckets=1, bins=1)
    return from_totals(backend.name, summary["totals"], float(fn.cpus), float(fn.memory),
                       int(fn.maximum_concurrency), compute_target_of(fn),
                       backend_region(backend))


def job_usage(job: dict, function: dict | None, backend: str,
              region: str | None = None) -> Usage | None:
    """The usage of one job's last attempt (a record dict, and its Function's record),
    or None before it finished. On AWS the job alone is priced without the per-task
    minimum, which belongs to a worker task running many jobs (see ``from_totals``)."""
    start, end = job.get("last_execution_date"), job.get("last_completion_date")
    if job.get("status") not in ("success", "failure", "timeout", "canceled") \
            or start is None or end is None:
        return None
    stats = job.get("statistics") or {}
    cpu_ns = (stats.get("cpu") or {}).get("time")
    peak = (stats.get("memory") or {}).get("peak_bytes")
    totals = {"finished": 1, "runtime_seconds": end - start,
              "cpu_seconds": (cpu_ns or 0) / 1e9, "peak_bytes": peak}
    if function is None:
        backend = "local"  # nothing to price with: figures only
        function = {"cpus": 0, "memory": 0, "maximum_concurrency": 0}
    return from_totals(backend, totals, float(function["cpus"]), float(function["memory"]),
                       0, compute_target_of_record(function), region)


def compute_target_of_record(function: dict) -> str:
    """``compute_target_of`` for a Function record dict."""
    try:
        chosen = targets.choose(function)
    except (KeyError, TypeError, ValueError):
        return "fargate"  # a record without its sizes: priced as Batch
    return "lambda" if chosen == targets.LAMBDA else "fargate"


def billed_memory(compute_target: str, cpus: float, memory_mb: float) -> float:
    """The memory billed: on Lambda, the size its function gets for ``cpus``."""
    if compute_target == "lambda":
        return float(targets.lambda_memory(cpus, int(memory_mb)))
    return memory_mb
