"""Operations on stored records shared by Function, Job and JobSearch: submission checks,
new job records, cancel and delete."""

from __future__ import annotations

import gzip

from skyrun.backends.ports import JOB, Backend
from skyrun.common.search import STR, Compare
from skyrun.domain.keys import bundle_key
from skyrun.domain.statuses import ACTIVE, FunctionStatus, JobStatus
from skyrun.engine import lifecycle
from skyrun.exceptions import ConflictError, NotFoundError


def check_accepts_jobs(function: dict, rerun: bool = False) -> None:
    """``ConflictError`` unless the Function takes submissions (enabled, not
    ``build_failed``)."""
    what = "rerun jobs" if rerun else "accept jobs"
    if not function.get("enabled", True):
        raise ConflictError(f"Function {function['id']} is disabled and does not {what}; "
                            "call enable() first")
    if function.get("status") == FunctionStatus.BUILD_FAILED.value:
        raise ConflictError(f"Function {function['id']} failed to build and does not {what}; "
                            "check its build log")


_PENDING = JobStatus.PENDING.value


def new_job_record(job_id: str | None, function: dict, reference_id: str, t: float, args, kwargs,
                   environment, tags) -> dict:
    """A pending job record."""
    return {
        "id": job_id, "function_id": function["id"], "namespace": function["namespace"],
        "reference_id": reference_id, "status": _PENDING, "args": args,
        "kwargs": kwargs, "environment": environment, "tags": tags, "creation_date": t,
        "execution_count": 0, "queued_date": t,
    }


def cancel_record(backend, record: dict | None) -> dict | None:
    """Cancel one job record; returns the record as it now is."""
    if record is None:
        return None
    return lifecycle.cancel_job(backend, record)


def delete_job_records(backend, records: list[dict], delete_results: bool) -> list[dict]:
    """Delete jobs that are not active, with their logs (and results if asked); returns
    the records of the jobs deleted.

    The records go first, in one conditional step, so that a job claimed meanwhile is
    kept whole: an active job is never deleted.
    """
    deleted = set(backend.store.delete_jobs([r["id"] for r in records],
                                            keep_statuses=tuple(ACTIVE)))
    gone = [r for r in records if r["id"] in deleted]
    for record in gone:
        backend.logs.delete(record["namespace"], record["function_id"], record["id"])
    if delete_results and gone:
        backend.blobs.delete([lifecycle.result_blob_id(r["namespace"], r["function_id"], r["id"])
                              for r in gone])
    return gone


def build_log_text(backend: Backend, function: dict) -> str:
    """The gunzipped build log, or the live output of a build in progress."""
    blob_id = lifecycle.build_log_blob_id(function["namespace"], function["id"])
    try:
        return gzip.decompress(backend.blobs.get_data(blob_id)).decode()
    except NotFoundError:
        return backend.builder.live_log(function)


def delete_function(backend: Backend, function_id: str, delete_results: bool) -> None:
    """Stop dispatch, then delete jobs, logs, build log, bundle, environment and record."""
    record = backend.store.get_function(function_id)
    if record is None:
        raise NotFoundError(f"Function {function_id} not found")
    if backend.store.active_jobs(function_id):
        raise ConflictError(f"Function {function_id} has active jobs; cancel them or wait for "
                            "them to end before deleting it")
    if record["status"] == FunctionStatus.READY.value:
        backend.store.update_function(function_id, {"status": FunctionStatus.STOPPED.value})
        if backend.store.active_jobs(function_id):  # a claim raced the stop
            backend.store.update_function(function_id, {"status": record["status"]})
            raise ConflictError(f"Function {function_id} has active jobs; cancel them or wait "
                                "for them to end before deleting it")
    backend.launcher.kill_workers(function_id)
    store = backend.store
    # A page at a time: the deleted jobs drop out of the next query.
    where = Compare("function_id", "==", function_id, STR)
    while True:
        page = store.query(JOB, where, [], 1000, 0)
        if not page:
            break
        if not delete_job_records(backend, page, delete_results):
            raise ConflictError(f"Function {function_id} has active jobs; cancel them or "
                                "wait for them to end before deleting it")
    backend.blobs.delete([lifecycle.build_log_blob_id(record["namespace"], function_id)])
    backend.blobs.delete_object(bundle_key(function_id))
    backend.builder.remove(record)
    store.delete_function(function_id)
