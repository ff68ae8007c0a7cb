"""Every change of a job's status, defined once (API.md §8.2-8.4)::

    (submitted) ─► PENDING ─claim─► RUNNING                      execution_count += 1
    PENDING ─cancel─► CANCELED                                    at once
    PENDING ─edit inputs─► PENDING                                (any status but an active one)
    RUNNING ─returned, result stored─► SUCCESS
    RUNNING ─attempt failed─► PENDING   while failures < retry_count + 1 (a retry)
    RUNNING ─attempt failed─► FAILURE   otherwise
    RUNNING ─past timeout─► TIMEOUT                               killed; never retried
    RUNNING ─worker lost─► PENDING      while losses < MAX_LOSSES (no retry used)
    RUNNING ─worker lost─► FAILURE      at the MAX_LOSSES-th loss of a run
    RUNNING ─cancel─► CANCEL ─worker acts─► CANCELING ─process gone─► CANCELED
    CANCEL | CANCELING ─attempt failed, or worker lost─► CANCELED   never retried
    CANCEL | CANCELING ─returned / past timeout─► SUCCESS / TIMEOUT the attempt keeps its outcome
    FAILURE | TIMEOUT | CANCELED ─rerun─► PENDING                 a fresh allowance of attempts

A failed attempt is one that raised, exited non-zero, could not store its result, went
over its memory limit, or whose process died; the caller says which in the fields it
passes (``error_reason``, ``exit_code``), the rule decides the status.

Each rule is a pure function of the job record it read. It returns a :class:`Change`: the
fields to write and the condition under which they may be written — the exact status it
read and, for an attempt, the worker and the instant of its claim — or None when its edge
does not apply to that record. :func:`apply` runs a rule as a compare-and-set: write on
the condition; if the job changed meanwhile, read it again and ask the rule again. So a
``cancel()`` landing between a failing attempt's read and its write fails that write, and
the rule, asked again, sees ``cancel`` and ends the job ``canceled`` instead of queueing it
for another run.

Adapters execute changes (and the claim, whose limits they hold atomically); they hold no
rule of their own. This package imports nothing else from skyrun.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skyrun.domain.statuses import (
    ACTIVE,
    CANCEL,
    CANCELED,
    CANCELING,
    FAILURE,
    PENDING,
    RUNNING,
    SUCCESS,
    TIMEOUT,
)

RERUNNABLE = (FAILURE, TIMEOUT, CANCELED)
#: A job whose worker is lost this many times in one run ends in failure.
MAX_LOSSES = 4

# How an attempt ended, as the worker saw it.
RETURNED = "returned"        # the function returned and its result is stored
FAILED = "failed"            # raised, exited non-zero, result not stored, memory, crash
TIMED_OUT = "timed_out"      # ran past its timeout and was killed
KILLED = "killed"            # killed because the job was canceled

#: Every edge of the diagram, by name: ``(name, from status, to status)``.
EDGES = (
    ("claim", PENDING, RUNNING),
    ("cancel pending", PENDING, CANCELED),
    ("edit inputs", PENDING, PENDING),
    ("success", RUNNING, SUCCESS),
    ("failure with retry", RUNNING, PENDING),
    ("failure", RUNNING, FAILURE),
    ("timeout", RUNNING, TIMEOUT),
    ("lost worker", RUNNING, PENDING),
    ("lost worker, last loss", RUNNING, FAILURE),
    ("cancel running", RUNNING, CANCEL),
    ("worker acts on cancel", CANCEL, CANCELING),
    ("killed for cancel", CANCELING, CANCELED),
    ("failure while canceling", CANCEL, CANCELED),
    ("lost worker while canceling", CANCEL, CANCELED),
    ("success while canceling", CANCEL, SUCCESS),
    ("timeout while canceling", CANCEL, TIMEOUT),
    ("rerun failure", FAILURE, PENDING),
    ("rerun timeout", TIMEOUT, PENDING),
    ("rerun canceled", CANCELED, PENDING),
)


@dataclass(frozen=True)
class Change:
    """Fields to write to one job, on condition that it still matches ``expect``
    (field → exact value; None means unset). ``increments`` are added to numeric fields
    in the same write. ``edge`` names the edge of the diagram taken."""

    edge: str
    expect: dict[str, Any]
    changes: dict[str, Any]
    increments: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        """The status the job moves to (None: it keeps its status)."""
        return self.changes.get("status")


Rule = Callable[[dict[str, Any]], "Change | None"]


def attempt(job: dict[str, Any]) -> dict[str, Any]:
    """The condition that pins one attempt as read: its status, its worker and the
    instant of its claim (a new claim, even by the same worker, changes the instant)."""
    return {"status": job["status"], "worker_id": job.get("worker_id"),
            "last_execution_date": job.get("last_execution_date")}


def same_attempt(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records of a job show the same claim."""
    return (a.get("worker_id") == b.get("worker_id")
            and a.get("last_execution_date") == b.get("last_execution_date"))


# -- dispatch ---------------------------------------------------------------------------
def claim(worker_id: str, now: float, lease_seconds: float) -> Change:
    """``pending → running`` for ``worker_id``, with a lease. The adapter picks the job and
    applies this together with the limits it holds atomically."""
    return Change("claim", {"status": PENDING},
                  {"status": RUNNING, "worker_id": worker_id,
                   "lease_expires": round(now + lease_seconds, 6),
                   "last_execution_date": now},
                  {"execution_count": 1})


# -- ends of attempts -------------------------------------------------------------------
def _ended(job: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "worker_id": None, "lease_expires": None}


def _terminal(changes: dict[str, Any], status: str, now: float) -> dict[str, Any]:
    changes["status"] = status
    changes["last_completion_date"] = now
    return changes


def _requeue(changes: dict[str, Any], now: float) -> dict[str, Any]:
    changes["status"] = PENDING
    changes["queued_date"] = now
    return changes


def settle(job: dict[str, Any], worker_id: str, outcome: str, now: float, retry_count: int,
           fields: dict[str, Any] | None = None) -> Change | None:
    """The end of an attempt held by ``worker_id`` (``RETURNED``, ``FAILED``, ``TIMED_OUT``
    or ``KILLED``); ``fields`` are written with it (exit code, reason, runtime...). None
    if the job is no longer this worker's active attempt."""
    status = job.get("status")
    if status not in ACTIVE or job.get("worker_id") != worker_id:
        return None
    changes = _ended(job, dict(fields or {}))
    canceling = status in (CANCEL, CANCELING)
    if outcome == RETURNED:
        edge = "success while canceling" if canceling else "success"
        _terminal(changes, SUCCESS, now)
    elif outcome == TIMED_OUT:
        edge = "timeout while canceling" if canceling else "timeout"
        _terminal(changes, TIMEOUT, now)
    elif outcome == KILLED:
        edge = "killed for cancel"
        _terminal(changes, CANCELED, now)
    elif outcome == FAILED:
        failures = int(job.get("failures") or 0) + 1
        changes["failures"] = failures
        if canceling:
            edge = "failure while canceling"
            _terminal(changes, CANCELED, now)
        elif failures < retry_count + 1:
            edge = "failure with retry"
            _requeue(changes, now)
        else:
            edge = "failure"
            _terminal(changes, FAILURE, now)
    else:
        raise ValueError(f"unknown attempt outcome {outcome!r}; expected one of "
                         f"{RETURNED}, {FAILED}, {TIMED_OUT}, {KILLED}")
    return Change(edge, attempt(job), changes)


def lose(job: dict[str, Any], now: float) -> Change | None:
    """The job's worker is gone: requeue without using the retry allowance, up to
    ``MAX_LOSSES`` losses in a run, then ``failure``; a job being canceled ends
    ``canceled``. None if the job is not active."""
    status = job.get("status")
    if status not in ACTIVE:
        return None
    losses = int(job.get("losses") or 0) + 1
    changes = _ended(job, {"losses": losses})
    if status in (CANCEL, CANCELING):
        edge = "lost worker while canceling"
        _terminal(changes, CANCELED, now)
    elif losses >= MAX_LOSSES:
        edge = "lost worker, last loss"
        _terminal(changes, FAILURE, now)
        changes.update(error_reason=f"Worker lost: the job's worker ({job.get('worker_id')}) "
                                    f"stopped responding {losses} times in this run",
                       exit_code=None)
    else:
        edge = "lost worker"
        _requeue(changes, now)
    # The lease read is part of the condition: a worker that renews it is not lost.
    return Change(edge, {**attempt(job), "lease_expires": job.get("lease_expires")}, changes)


# -- requests of the user ---------------------------------------------------------------
def cancel(job: dict[str, Any], now: float) -> Change | None:
    """``pending → canceled`` at once, ``running → cancel`` for the worker to act on;
    None for any other status (terminal jobs are unchanged, a cancel is under way)."""
    status = job.get("status")
    if status == PENDING:
        return Change("cancel pending", {"status": PENDING},
                      {"status": CANCELED, "last_completion_date": now})
    if status == RUNNING:
        return Change("cancel running", {"status": RUNNING}, {"status": CANCEL})
    return None


def begin_canceling(job: dict[str, Any], worker_id: str) -> Change | None:
    """``cancel → canceling``: the worker holding the attempt is killing its process."""
    if job.get("status") != CANCEL or job.get("worker_id") != worker_id:
        return None
    return Change("worker acts on cancel", attempt(job), {"status": CANCELING})


def rerun(job: dict[str, Any], now: float) -> Change | None:
    """``failure | timeout | canceled → pending`` with a fresh allowance of attempts and
    the last attempt's outcome cleared; None for any other status."""
    status = job.get("status")
    if status not in RERUNNABLE:
        return None
    return Change(f"rerun {status}", {"status": status}, {
        "status": PENDING, "execution_count": 0, "failures": 0, "losses": 0,
        "error_reason": None, "exit_code": None, "runtime": None, "statistics": None,
        "queued_date": now})


def edit_inputs(job: dict[str, Any], changes: dict[str, Any]) -> Change | None:
    """New inputs (args, kwargs, environment) of a job that is not active; None if it
    is active."""
    status = job.get("status")
    if status in ACTIVE:
        return None
    return Change("edit inputs", {"status": status}, dict(changes))


# -- compare-and-set --------------------------------------------------------------------
#: Rounds of read-and-decide before a busy job is given up on.
ATTEMPTS = 25


def apply(read: Callable[[str], dict[str, Any] | None],
          write: Callable[[str, Change], dict[str, Any] | None],
          job: dict[str, Any], rule: Rule) -> tuple[dict[str, Any] | None, Change | None]:
    """Run ``rule`` on ``job`` as a compare-and-set.

    ``write(job_id, change)`` applies a change on its condition and returns the updated
    record, or None if the job no longer matched; ``read(job_id)`` reads the job again.
    Returns ``(updated record, change)``, or ``(record as last read, None)`` if the rule
    declined (the record is None if the job is gone).
    """
    current = job
    for _ in range(ATTEMPTS):
        change = rule(current)
        if change is None:
            return current, None
        updated = write(current["id"], change)
        if updated is not None:
            return updated, change
        again = read(job["id"])
        if again is None:
            return None, None
        current = again
    raise RuntimeError(f"job {job['id']} changed {ATTEMPTS} times while being updated")
