"""Waiting on a Function: ``wait_for_completion`` and ``as_completed``.

The loops also ask for workers (``lifecycle.ensure_workers``, at most once a second),
which is how lost workers are replaced when the backend has no scheduler of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from skyrun.compute import lifecycle
from skyrun.compute.progress import make_bar
from skyrun.compute.statuses import ACTIVE, TERMINAL, FunctionStatus, JobStatus

_WAITING = (JobStatus.PENDING.value, *ACTIVE)
# Looking for lost workers costs a process scan: a waiting loop does it at most this often.
ENSURE_EVERY = 1.0
_SETTLED = (FunctionStatus.READY.value, FunctionStatus.STOPPED.value)


def _pause(fn, deadline: float | None, delay: float) -> None:
    """Sleep ``delay`` seconds, or raise ``TimeoutError`` if the deadline has passed."""
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
        raise TimeoutError(f"Function {fn.name} did not complete before timeout!")
    time.sleep(delay if left is None else min(delay, left))


def wait_for_function(fn, timeout: float | None, interval: float, progress: bool | None) -> None:
    """Return once the build is done and no job of ``fn`` is pending or active."""
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = None
    ensured = 0.0
    try:
        while True:
            fn.refresh(includes=["job.statistics"])
            fn._check_build()
            counts = fn._record["job_statistics"]
            status = fn._get("status")
            if bar is None:
                bar = make_bar(progress, 1 + sum(counts.values()), f"Waiting for {fn.name}",
                               unit="step")
            if bar is not None:
                _update_bar(bar, counts, status)
            if status in _SETTLED and not sum(counts[s] for s in _WAITING):
                return
            if time.monotonic() - ensured >= ENSURE_EVERY:
                lifecycle.ensure_workers(fn._backend, fn._record, counts)
                ensured = time.monotonic()
            _pause(fn, deadline, interval)
    finally:
        if bar is not None:
            bar.close()


def as_completed(fn, jobs: list, timeout: float | None, interval: float,
                 progress: bool | None) -> Iterator:
    """Yield each of ``jobs`` once, refreshed, in completion order. After an empty round
    the interval doubles, up to 60 s; a hit resets it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting = {job.id: job for job in jobs}
    bar = make_bar(progress, len(waiting), f"Jobs of {fn.name}")
    delay = interval
    ensured = 0.0
    try:
        while waiting:
            fn.refresh()
            fn._check_build()
            hits = 0
            for record in fn._backend.store.get_jobs(list(waiting)):
                if record["status"] in TERMINAL:
                    job = waiting.pop(record["id"])
                    job._load(record)
                    hits += 1
                    if bar is not None:
                        bar.update(1)
                    yield job
            if not waiting:
                return
            delay = interval if hits else min(delay * 2, max(interval, 60))
            if time.monotonic() - ensured >= ENSURE_EVERY:
                lifecycle.ensure_workers(fn._backend, fn._record)
                ensured = time.monotonic()
            _pause(fn, deadline, delay)
    finally:
        if bar is not None:
            bar.close()


def _update_bar(bar, counts: dict, status: str) -> None:
    """The wait bar counts the build as its first step, then the terminal jobs."""
    built = status not in (FunctionStatus.AWAITING_BUNDLE.value, FunctionStatus.BUILDING.value)
    bar.total = 1 + sum(counts.values())
    bar.n = int(built) + sum(counts[s] for s in TERMINAL)
    bar.set_postfix_str(f"{status} " + " ".join(f"{k}={v}" for k, v in counts.items() if v),
                        refresh=False)
    bar.refresh()
