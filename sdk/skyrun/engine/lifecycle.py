"""The rules of the job lifecycle, written once above the ports.

The SDK and the worker both go through these functions, so the local and AWS backends
settle attempts, retries, losses, cancels and results identically.
"""

from __future__ import annotations

import gzip
import json
import logging

from skyrun import config
from skyrun.backends.ports import Backend
from skyrun.common.namespaces import default_owners
from skyrun.common.timeutil import now
from skyrun.domain import transitions
from skyrun.domain.keys import attempt_mark, build_log_blob_id, log_blob_id, result_blob_id
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT
from skyrun.domain.slots import Held
from skyrun.domain.statuses import ACTIVE, ACTIVE_STATUSES, PENDING, TERMINAL, FunctionStatus

# A claim lasts LEASE_SECONDS unless its worker renews it (``$SKYRUN_LEASE_SECONDS``
# changes it: lease_seconds()); an expired claim means the worker was lost. Workers renew
# every quarter of a lease.
LEASE_SECONDS = config.DEFAULT_LEASE_SECONDS
# A job whose worker is lost this many times in one run ends in failure.
MAX_LOSSES = transitions.MAX_LOSSES

logger = logging.getLogger(__name__)


def lease_seconds() -> float:
    """How long a claim lasts unless its worker renews it (``$SKYRUN_LEASE_SECONDS``)."""
    return config.lease_seconds()


def claim_grace_seconds() -> float:
    """A worker whose claim is younger than this (half a lease) is not judged lost by a
    missing process record: it may not be registered yet."""
    return lease_seconds() / 2


# -- builds -----------------------------------------------------------------------------
def write_build_log(backend: Backend, function: dict, text: str) -> None:
    """Store (or replace) the gzip build log blob ``logs/{ns}/{fid}``."""
    ns = function["namespace"]
    backend.blobs.put({
        "id": build_log_blob_id(ns, function["id"]), "namespace": ns,
        "name": function["id"], "storage_type": "logs", "storage_state": "available",
        "owners": default_owners(ns),
    }, gzip.compress(text.encode()), overwrite=True)


def finish_build(backend: Backend, function: dict, ok: bool, log_text: str,
                 changes: dict | None = None) -> dict | None:
    """Record the end of a build: the log, then ``ready``/``stopped`` or ``build_failed``."""
    write_build_log(backend, function, log_text)
    if ok:
        status = FunctionStatus.READY if function.get("auto_start", True) else FunctionStatus.STOPPED
    else:
        status = FunctionStatus.BUILD_FAILED
    record = backend.store.update_function(
        function["id"], dict(changes or {}, status=status.value),
        expect={"status": [FunctionStatus.AWAITING_BUNDLE.value, FunctionStatus.BUILDING.value]})
    if record is not None and status == FunctionStatus.READY:
        ensure_workers(backend, record)
    return record


# -- workers ----------------------------------------------------------------------------
def ensure_workers(backend: Backend, function: dict, counts: dict[str, int] | None = None) -> int:
    """Start workers so that ``min(maximum_concurrency, runnable jobs)`` are alive;
    returns how many were started. Also requeues jobs of lost workers first. ``counts``
    (jobs by status) spares a count when the caller has just made one."""
    if function.get("status") != FunctionStatus.READY.value:
        return 0
    return reconcile(backend, function, counts)[1]


def reconcile(backend: Backend, function: dict,
              counts: dict[str, int] | None = None) -> tuple[int, int]:
    """Requeue the jobs of lost workers, then (for a ready Function) start the workers
    that are missing; returns ``(jobs requeued or settled, workers started)``."""
    fid = function["id"]
    if function.get("status") != FunctionStatus.READY.value:
        return reap_lost(backend, fid), 0
    live = backend.launcher.live_workers(fid)
    if counts is None:
        # Only the statuses that want a worker are counted (one query each on AWS).
        counts = backend.store.count_by_status([fid], RUNNABLE).get(fid, {})
    # When the live workers already cover what is wanted, a job can only be lost by an
    # expired claim: the scan of active jobs for workers that are not live is skipped
    # (it costs a read of every active job on AWS). A job whose worker died is then
    # requeued when its claim runs out, as the waiting loops already find it.
    covered = len(live) >= _wanted(function, counts)
    lost = _reap(backend, fid, None if covered else live)
    # A worker that let a claim expire is lost, whatever its registration still says
    # (a lease outlives its worker by a while): it is replaced now, not when that ends.
    live -= {w for w in lost if w}
    missing = _wanted(function, counts) - len(live)
    if missing <= 0:
        return len(lost), 0
    # Read the Function again before launching: the caller's record may be an old one
    # (a waiting loop reads it once), and a stop or a lower limit since must hold.
    fresh = backend.store.get_function(fid)
    if fresh is None or fresh.get("status") != FunctionStatus.READY.value:
        return len(lost), 0
    function = fresh
    missing = _wanted(function, counts) - len(live)
    if missing > 0:
        backend.launcher.launch(function, missing)
        return len(lost), missing
    return len(lost), 0


#: The statuses of jobs that want a worker (:func:`_wanted`).
RUNNABLE = (PENDING, *ACTIVE_STATUSES)


def _wanted(function: dict, counts: dict[str, int]) -> int:
    # How many workers the Function should have: one per runnable job, within its limits.
    runnable = counts.get("pending", 0) + sum(counts.get(s, 0) for s in ACTIVE)
    return min(int(function["maximum_concurrency"]), runnable, NAMESPACE_ACTIVE_LIMIT)


def reap_lost(backend: Backend, function_id: str, live: set[str] | None = None) -> int:
    """Requeue the active jobs of workers that are gone (lease expired, or the process
    is known dead). Returns how many jobs were settled."""
    return len(_reap(backend, function_id, live))


def _reap(backend: Backend, function_id: str, live: set[str] | None) -> list[str | None]:
    # Settles the jobs of lost workers; the worker id of each.
    t = now()
    lost = {j["id"]: j for j in backend.store.expired_claims(t, function_id)}
    # Their claims ran out: their workers stop counting as live at once (on AWS their
    # leases last longer than a claim), so replacements start now.
    expired = {j["worker_id"] for j in lost.values() if j.get("worker_id")}
    if live is not None:
        grace = claim_grace_seconds()
        for job in backend.store.active_jobs(function_id):
            if (job["worker_id"] not in live
                    and (job.get("last_execution_date") or 0) < t - grace):
                lost[job["id"]] = job
    for job in lost.values():
        settle_lost(backend, job)
    for worker_id in expired:
        backend.launcher.presumed_lost(worker_id, function_id)
    return [j.get("worker_id") for j in lost.values()]


# -- status changes ---------------------------------------------------------------------
# The rules are in skyrun.domain.transitions; these run them against a backend's store as
# compare-and-sets (read, decide, write on condition, again if the job changed meanwhile).
def _write(backend: Backend):
    def write(job_id: str, change: transitions.Change) -> dict | None:
        return backend.store.update_job(job_id, change.changes, expect=change.expect)
    return write


def transition(backend: Backend, job: dict, rule: transitions.Rule
               ) -> tuple[dict | None, transitions.Change | None]:
    """Apply ``rule`` to ``job`` (as read) through the backend's store; see
    :func:`skyrun.domain.transitions.apply`."""
    return transitions.apply(backend.store.get_job, _write(backend), job, rule)


def _end_fields(statistics: dict | None, runtime: float | None, extra: dict) -> dict:
    fields = dict(extra)
    if runtime is not None:
        fields["runtime"] = int(round(runtime))
    if statistics is not None:
        fields["statistics"] = statistics
    return fields


def settle_attempt(backend: Backend, job: dict, worker_id: str, outcome: str,
                   retry_count: int, fields: dict) -> dict | None:
    """Settle the attempt ``worker_id`` holds on ``job`` (the record its claim returned,
    or any later read); the updated record, or None if the attempt is no longer its own."""
    t = now()
    record, change = transition(backend, job, lambda current: transitions.settle(
        current, worker_id, outcome, t, retry_count, fields))
    return record if change is not None else None


def settle_success(backend: Backend, job: dict, worker_id: str, runtime: float,
                   statistics: dict | None, **extra) -> dict | None:
    """The attempt returned and its result is stored. ``extra`` holds more fields to
    write in the same update (timings)."""
    fields = _end_fields(statistics, runtime, extra)
    fields.update(exit_code=0, error_reason=None)
    return settle_attempt(backend, job, worker_id, transitions.RETURNED, 0, fields)


def settle_failure(backend: Backend, job: dict, worker_id: str, reason: str, exit_code: int,
                   runtime: float | None, statistics: dict | None,
                   retry_count: int, **extra) -> dict | None:
    """The attempt raised, exited non-zero, or its result could not be stored: retry while
    attempts remain, else ``failure``. A job being canceled ends ``canceled``."""
    fields = _end_fields(statistics, runtime, extra)
    fields.update(error_reason=reason, exit_code=exit_code)
    return settle_attempt(backend, job, worker_id, transitions.FAILED, retry_count, fields)


def settle_timeout(backend: Backend, job: dict, worker_id: str, timeout: int,
                   runtime: float, statistics: dict | None) -> dict | None:
    """The attempt ran past ``timeout`` and was killed: ``timeout``, never retried."""
    fields = _end_fields(statistics, runtime, {})
    fields.update(exit_code=137,
                  error_reason=f"Job timed out: it ran longer than its timeout of {timeout} "
                               f"seconds and was killed")
    return settle_attempt(backend, job, worker_id, transitions.TIMED_OUT, 0, fields)


def settle_canceled(backend: Backend, job: dict, worker_id: str, runtime: float | None,
                    statistics: dict | None) -> dict | None:
    """The attempt was killed because the job was canceled."""
    fields = _end_fields(statistics, runtime, {})
    fields.update(exit_code=137, error_reason="Job was canceled while running")
    return settle_attempt(backend, job, worker_id, transitions.KILLED, 0, fields)


def begin_canceling(backend: Backend, job: dict, worker_id: str) -> dict | None:
    """``cancel → canceling``: the worker is about to kill the attempt's process."""
    record, change = transition(backend, job,
                                lambda current: transitions.begin_canceling(current, worker_id))
    return record if change is not None else None


def settle_lost(backend: Backend, job: dict) -> dict | None:
    """The job's worker is gone (``job`` as the reaper read it): requeue without using the
    retry allowance, up to MAX_LOSSES losses in a run, then ``failure``."""
    t = now()

    def rule(current: dict) -> transitions.Change | None:
        # Asked again after a failed write, the job must still be the attempt judged lost,
        # and not renewed since by a worker that is alive after all.
        if current is not job:
            if not transitions.same_attempt(current, job):
                return None
            lease = current.get("lease_expires")
            if lease != job.get("lease_expires") and (lease is None or lease >= t):
                return None
        return transitions.lose(current, t)

    record, change = transition(backend, job, rule)
    if change is None:
        return None
    _sweep_lost_attempt(backend, job)
    return record


def _sweep_lost_attempt(backend: Backend, job: dict) -> None:
    # A worker killed between writing its result (or, on AWS, its sealed log) and its
    # settle, or whose settle failed, left that data behind, named by nothing. Once its
    # job is requeued, what this claim staged goes (marked by it: attempt_mark); any
    # other claim's data, the next attempt's included, is left alone.
    ns, fid, jid = job["namespace"], job["function_id"], job["id"]
    try:
        backend.blobs.sweep_staged([result_blob_id(ns, fid, jid), log_blob_id(ns, fid, jid)],
                                   attempt_mark(job))
    except Exception:  # housekeeping: the requeue stands, and the data is never read
        logger.warning("could not remove the data a lost attempt of job %s staged", jid,
                       exc_info=True)


def cancel_job(backend: Backend, job: dict) -> dict | None:
    """Cancel one job as read: ``pending → canceled``, ``running → cancel``; returns the
    record as it now is (unchanged for other statuses), or None if it is gone."""
    t = now()
    record, _ = transition(backend, job, lambda current: transitions.cancel(current, t))
    return record


def rerun_job(backend: Backend, job: dict) -> dict | None:
    """``failure | timeout | canceled → pending``; the updated record, or None if the
    job is not (or no longer) rerunnable."""
    t = now()
    record, change = transition(backend, job, lambda current: transitions.rerun(current, t))
    return record if change is not None else None


# -- the hot path: the end of one attempt and the start of the next --------------------
def finish_attempt(backend: Backend, function: dict, job: dict, worker_id: str, outcome: str,
                   fields: dict, result: tuple[bytes | None, dict] | None = None,
                   claim_next: bool = False, log_written: bool = True,
                   held: Held | None = None) -> tuple[dict | None, dict | None, dict | None]:
    """End the attempt ``worker_id`` holds on ``job``: store the result of a returned
    attempt (``result`` is its data and attributes), settle the job by the state machine,
    and seal its log once it is terminal, all in the store's ``settle_and_claim`` (one
    write on SQLite), which also claims the worker's next job when ``claim_next``, with
    the worker's slots ``held`` (see :mod:`skyrun.engine.workerslots`).
    ``log_written=False`` says no attempt of this run wrote to the job's log (see
    ``LogStore.seal``).

    Returns ``(settled record or None if the attempt was no longer the worker's, the next
    job claimed or None, the Function record read with it or None)``.
    """
    ns, fid, jid = function["namespace"], function["id"], job["id"]
    retries = int(function["retry_count"])
    # What this claim stages is marked as its own: the requeue of a lost attempt removes
    # what it left (_sweep_lost_attempt).
    mark = attempt_mark(job)
    records: list[dict] = []
    # A null result writes nothing, and has nothing to remove: a result's record is
    # written only by the settle of a success, which is terminal (no rerun, no retry
    # follows it), so a job that returns None never has an earlier result.
    data, attrs = result if result is not None else (None, {})
    if outcome == transitions.RETURNED and data is not None:
        try:
            records.append(backend.blobs.staged_record(result_record(ns, fid, jid, attrs),
                                                       data, mark))
        except Exception as exc:
            outcome = transitions.FAILED
            fields = dict(fields, error_reason=f"The result could not be stored: {exc}",
                          exit_code=1)
    t = now()
    claim = (dict(worker_id=worker_id, lease_seconds=lease_seconds(),
                  namespace_limit=NAMESPACE_ACTIVE_LIMIT, now=t, held=held)
             if claim_next and held is not None and held.complete else None)
    after: dict = {}
    # Data staged for a write that did not match: a stale attempt's, or one tried again
    # (a cancel landed first). Such a write is tried again with the same result records;
    # each write seals the log afresh.
    unmatched: list[dict] = []
    # The log sealed for the write under way, whose outcome is unknown if it raises.
    sealing: list[dict] = []

    def write(job_id: str, change: transitions.Change) -> dict | None:
        sealing[:] = ([backend.logs.sealed_record(ns, fid, jid, mark, written=log_written)]
                      if change.status in TERMINAL else [])
        settled, nxt, fn = backend.store.settle_and_claim(
            job_id, change.changes, change.expect, records + sealing, claim)
        if settled is None:
            unmatched.extend(sealing)
        sealing.clear()
        after.update(next=nxt, function=fn)
        return settled

    try:
        settled, change = transitions.apply(
            backend.store.get_job, write, job,
            lambda current: transitions.settle(current, worker_id, outcome, t, retries, fields))
    except BaseException:
        # A write that raised may have landed (its answer lost) or be still on its way:
        # while the job is still this claim's, its data stays, and if the write did not
        # land, the requeue of the job (whose claim the worker lets run out) removes it.
        # Once the job has moved on, nothing can store it any more (a discard keeps what
        # a stored record names).
        _discard(backend, jid, unmatched + (records + sealing
                                            if _moved_on(backend, job) else []))
        raise
    if change is None:  # no write matched: the result was stored by none
        _discard(backend, jid, unmatched + records)
        return None, None, None
    _discard(backend, jid, unmatched)
    return settled, after.get("next"), after.get("function")


def _moved_on(backend: Backend, job: dict) -> bool:
    # Whether the job is no longer the claim ``job`` records (False if that is unknown).
    try:
        current = backend.store.get_job(job["id"])
    except Exception:
        return False
    return current is None or not transitions.same_attempt(current, job)


def _discard(backend: Backend, job_id: str, records: list[dict]) -> None:
    if not records:
        return
    try:
        backend.blobs.discard_staged(records)
    except Exception:  # housekeeping: the settle stands (and the next claim with it)
        logger.warning("could not remove the data job %s staged for a settle that did "
                       "not land", job_id, exc_info=True)


# -- results ----------------------------------------------------------------------------
def result_record(namespace: str, function_id: str, job_id: str, attrs: dict) -> dict:
    """The metadata of a job's result blob ``compute/{ns}/{fid}/{jid}``."""
    return {
        "id": result_blob_id(namespace, function_id, job_id), "namespace": namespace,
        "name": f"{function_id}/{job_id}",
        "storage_type": "compute", "storage_state": "available",
        "description": attrs.get("description"),
        "expires": attrs.get("expires"),
        "extra_properties": attrs.get("extra_properties"),
        "tags": attrs.get("tags"),
        "owners": default_owners(namespace),
    }


def decode_result(data: bytes | None):
    """JSON if it parses, else the bytes (as the original does)."""
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data
