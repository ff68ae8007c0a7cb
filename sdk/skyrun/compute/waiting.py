"""Waiting on a Function: ``wait_for_completion`` and ``as_completed``.

The loops also ask for workers (``lifecycle.ensure_workers``, at most once a second),
which is how lost workers are replaced when the backend has no scheduler of its own.

A poll reads only what it needs, because on AWS every read is a request and a wait
polls for as long as the jobs run: once the Function is ``ready`` it is not read again
until the end (it can no longer fail its build; ``ensure_workers`` reads it again before
launching), and without a progress bar only the statuses waited on are counted (one
query per status on AWS). The end of a wait reads the Function and all its statistics
once, so it leaves ``fn`` as ``refresh(includes=["job.statistics"])`` would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from skyrun.compute.progress import make_bar, stderr_is_terminal
from skyrun.domain.statuses import ACTIVE, TERMINAL, FunctionStatus, JobStatus
from skyrun.engine import lifecycle
from skyrun.exceptions import NotFoundError

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
    show = stderr_is_terminal() if progress is None else bool(progress)
    bar = None
    ensured = 0.0
    read = False
    try:
        while True:
            if show:
                fn.refresh(includes=["job.statistics"])
            elif not read or fn._get("status") != FunctionStatus.READY.value:
                _reload(fn)
                read = True
            fn._check_build()
            status = fn._get("status")
            if show:
                counts = fn._record["job_statistics"]
                if bar is None:
                    bar = make_bar(True, 1 + sum(counts.values()), f"Waiting for {fn.name}",
                                   unit="step")
                _update_bar(bar, counts, status)
            elif status in _SETTLED:
                counts = fn._backend.store.count_by_status([fn.id], _WAITING).get(fn.id, {})
            else:
                counts = {}  # still building: no job can run yet
            if status in _SETTLED and not _waiting(counts):
                if show:
                    return
                # Confirm with the whole record and every count, which the caller sees.
                fn.refresh(includes=["job.statistics"])
                fn._check_build()
                if fn._get("status") in _SETTLED and not _waiting(fn._record["job_statistics"]):
                    return
            if time.monotonic() - ensured >= ENSURE_EVERY:
                lifecycle.ensure_workers(fn._backend, fn._record, counts)
                ensured = time.monotonic()
            _pause(fn, deadline, interval)
    finally:
        if bar is not None:
            bar.close()


def _waiting(counts: dict) -> int:
    return sum(counts.get(s, 0) for s in _WAITING)


def _reload(fn) -> None:
    """Read the Function's record alone (no job counts), keeping the statistics loaded."""
    record = fn._backend.store.get_function(fn.id)
    if record is None:
        raise NotFoundError(f"Function {fn.id} not found")
    if "job_statistics" in fn._record:
        record["job_statistics"] = fn._record["job_statistics"]
    fn._load(record)


def as_completed(fn, jobs: list, timeout: float | None, interval: float,
                 progress: bool | None) -> Iterator:
    """Yield each of ``jobs`` once, refreshed, in completion order. After an empty round
    the interval doubles, up to 60 s; a hit resets it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting = {job.id: job for job in jobs}
    bar = make_bar(progress, len(waiting), f"Jobs of {fn.name}")
    delay = interval
    ensured = 0.0
    read = False
    try:
        while waiting:
            if fn._get("status") != FunctionStatus.READY.value or not read:
                _reload(fn)
                read = True
            fn._check_build()
            hits = 0
            records = fn._backend.store.get_jobs(list(waiting))
            if len(records) < len(waiting):
                _reload(fn)  # jobs are gone: NotFoundError if their Function is too
            for record in records:
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
                if fn._get("status") == FunctionStatus.READY.value:
                    counts = fn._backend.store.count_by_status([fn.id], _WAITING).get(fn.id, {})
                    lifecycle.ensure_workers(fn._backend, fn._record, counts)
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
