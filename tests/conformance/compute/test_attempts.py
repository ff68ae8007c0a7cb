"""Attempts, retries, timeouts, lost workers and cancels (API.md 8.2-8.4; scenarios 23-26)."""

from __future__ import annotations

import time

import pytest

from skyrun.compute import Function, Job, JobStatus
from tests.conftest import wait_until
from tests.support import kill_worker, running_worker


def boom():
    print("about to fail")
    raise ValueError("boom")


def sleeper(seconds, marker=None):
    time.sleep(seconds)
    if marker:
        with open(marker, "w") as f:
            f.write("done")
    return seconds


def exits(code):
    import sys

    sys.exit(code)


def _store(fn):
    return fn._client.backend.store


def test_retries_then_failure(namespace):
    fn = Function(boom, retry_count=2)
    job = fn()
    job.wait_for_completion(interval=0.05, timeout=60)
    assert job.status == JobStatus.FAILURE
    assert job.execution_count == 3
    assert job.error_reason == "ValueError: boom"
    assert job.exit_code == 1
    log = job.log(timestamps=False)
    assert log.count("Traceback (most recent call last)") == 3
    assert log.count("about to fail") == 3
    assert "ValueError: boom" in log

    once = Function(boom, retry_count=0)()
    once.wait_for_completion(interval=0.05, timeout=60)
    assert once.status == JobStatus.FAILURE and once.execution_count == 1


def test_exit_codes(namespace):
    fn = Function(exits, maximum_concurrency=3)
    fn.save()
    jobs = fn.map([0, None, 3])
    fn.wait_for_completion(interval=0.05, timeout=60)
    for job in jobs:
        job.refresh()
    assert [j.status for j in jobs] == [JobStatus.SUCCESS, JobStatus.SUCCESS, JobStatus.FAILURE]
    assert [j.exit_code for j in jobs] == [0, 0, 3]
    assert jobs[0].result() is None
    assert "status 3" in jobs[2].error_reason


def test_timeout_kills_promptly_and_is_not_retried(namespace):
    fn = Function(sleeper, timeout=5, retry_count=2)
    # A first job warms the worker (its bundle, its executor), so that the span checked
    # below, from the claim to the kill, holds the timeout and the kill, not a cold
    # start on a loaded machine.
    fn(0).wait_for_completion(interval=0.05, timeout=60)
    job = fn(60)
    job.wait_for_completion(interval=0.1, timeout=60)
    assert job.status == JobStatus.TIMEOUT
    assert job.execution_count == 1
    assert job.exit_code == 137
    elapsed = (job.last_completion_date - job.last_execution_date).total_seconds()
    assert 5 <= elapsed <= 7, elapsed
    assert "timeout" in job.error_reason
    # The worker goes on with the next job.
    nxt = fn(0)
    nxt.wait_for_completion(interval=0.05, timeout=60)
    assert nxt.status == JobStatus.SUCCESS


def _drive(fn, seconds=0.3):
    # The SDK's waiting calls reap lost workers and start new ones, as a user's would.
    try:
        fn.wait_for_completion(timeout=seconds, interval=0.1)
    except TimeoutError:
        pass


def test_lost_worker_requeues_without_using_retries(namespace, short_leases):
    fn = Function(sleeper, retry_count=0, maximum_concurrency=1)
    job = fn(2)
    worker = wait_until(lambda: running_worker(fn, job.id), timeout=30, message="job running")
    assert kill_worker(worker, fn.id)
    deadline = time.monotonic() + 60
    while Job.get(job.id).status not in JobStatus.terminal():
        assert time.monotonic() < deadline, "job never finished"
        _drive(fn)
    job.refresh()
    assert job.status == JobStatus.SUCCESS
    assert job.execution_count == 2
    assert job.result() == 2


def test_fourth_loss_fails_the_job(namespace, short_leases):
    fn = Function(sleeper, retry_count=0, maximum_concurrency=1)
    job = fn(120)
    seen = set()
    for _ in range(4):
        def running_on_new_worker():
            _drive(fn, 0.2)
            worker = running_worker(fn, job.id)
            return worker if worker and worker not in seen else None

        worker = wait_until(running_on_new_worker, timeout=60, message="claimed by a new worker")
        seen.add(worker)
        assert kill_worker(worker, fn.id)
    wait_until(lambda: (_drive(fn, 0.2), Job.get(job.id).status)[1] in JobStatus.terminal(),
               timeout=60, message="job settled")
    job.refresh()
    assert job.status == JobStatus.FAILURE
    assert job.execution_count == 4
    assert "Worker lost" in job.error_reason and "4 times" in job.error_reason


def test_cancel_pending_is_immediate(namespace):
    fn = Function(sleeper, auto_start=False)
    fn.save()
    jobs = fn.map([1, 1])
    jobs[0].cancel()
    assert jobs[0].status == JobStatus.CANCELED
    assert Job.get(jobs[0].id).last_completion_date is not None
    canceled = fn.cancel_jobs()
    assert [j.id for j in canceled] == [jobs[1].id]
    assert canceled[0].status == JobStatus.CANCELED
    with pytest.raises(ValueError, match="Cannot cancel a Job that has not been saved"):
        Job(function_id=fn.id).cancel()


def test_cancel_running_kills_it(namespace, tmp_path):
    marker = tmp_path / "side-effect"
    fn = Function(sleeper)
    job = fn(4, str(marker))
    wait_until(lambda: Job.get(job.id).status == JobStatus.RUNNING, timeout=30)
    job.cancel()
    assert job.status == JobStatus.CANCEL
    seen = {JobStatus.CANCEL}

    def settled():
        status = Job.get(job.id).status
        seen.add(status)
        return status == JobStatus.CANCELED

    wait_until(settled, timeout=10, interval=0.01, message="canceled")
    job.refresh()
    assert job.exit_code == 137
    assert seen <= {JobStatus.CANCEL, JobStatus.CANCELING, JobStatus.CANCELED}
    time.sleep(5)  # past the moment the job would have written its file
    assert not marker.exists()
    assert Job.get(job.id).status == JobStatus.CANCELED
