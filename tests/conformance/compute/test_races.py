"""Races the job state machine must win, on each backend: a change that lands between
another change's read and its write (API.md §8.4; issue: a canceled job ran again).

Each test hooks the store so that something happens just before the first conditional
write of the code under test, after whatever it read.
"""

from __future__ import annotations

import pytest

from skyrun.compute import Function
from skyrun.compute.operations import cancel_record
from skyrun.engine import lifecycle
from tests.conformance.compute.transition_support import (
    before_first_write,
    claim_as,
    function_record,
    job_record,
)


@pytest.fixture
def backend(namespace):
    return namespace.backend


def _cancel(backend, job_id):
    return lambda: cancel_record(backend, backend.store.get_job(job_id))


def test_cancel_between_a_failed_attempts_read_and_write_ends_canceled(namespace, backend,
                                                                        monkeypatch):
    fn = function_record(namespace, retry_count=3)
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    fired = before_first_write(monkeypatch, backend, job["id"],
                                _cancel(backend, job["id"]))
    lifecycle.settle_failure(backend, claimed, "worker-a", "ValueError: boom", 1, 0.1, None,
                             retry_count=3)
    assert fired
    monkeypatch.undo()
    after = backend.store.get_job(job["id"])
    assert after["status"] == "canceled", after
    assert after["worker_id"] is None and after["execution_count"] == 1
    # Never runs again: nothing is left to claim.
    assert claim_as(backend, fn, "worker-b") is None
    assert backend.store.get_job(job["id"])["status"] == "canceled"


def test_cancel_racing_a_lost_worker_requeue_ends_canceled(namespace, backend, monkeypatch):
    fn = function_record(namespace)
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    # The reaper read the job as running; the cancel lands before it writes.
    fired = before_first_write(monkeypatch, backend, job["id"],
                                _cancel(backend, job["id"]))
    lifecycle.settle_lost(backend, claimed)
    assert fired
    monkeypatch.undo()
    after = backend.store.get_job(job["id"])
    assert after["status"] == "canceled", after
    assert after["losses"] == 1
    assert claim_as(backend, fn, "worker-b") is None
    assert backend.store.get_job(job["id"])["status"] == "canceled"


def test_a_stale_settle_racing_a_rerun_leaves_the_new_attempt_alone(namespace, backend,
                                                                    monkeypatch):
    fn = function_record(namespace)
    job = job_record(backend, fn)
    first = claim_as(backend, fn, "worker-a")
    second: list[dict] = []

    def meanwhile():
        # The worker was slow, not lost: it ends its attempt, the user reruns the job,
        # and the same worker claims it again.
        failed = lifecycle.settle_failure(backend, first, "worker-a", "ValueError: boom", 1,
                                          0.1, None, retry_count=0)
        assert failed["status"] == "failure"
        [rerun] = Function.get(fn["id"]).rerun(job_ids=[job["id"]])
        assert rerun.status == "pending"
        second.append(claim_as(backend, fn, "worker-a"))

    # The reaper read the first attempt as lost; all that happens before it writes.
    fired = before_first_write(monkeypatch, backend, job["id"], meanwhile)
    assert lifecycle.settle_lost(backend, first) is None
    assert fired and second[0] is not None
    monkeypatch.undo()
    after = backend.store.get_job(job["id"])
    assert after["status"] == "running", after
    assert after["worker_id"] == "worker-a"
    assert after["last_execution_date"] == second[0]["last_execution_date"]
    assert after["losses"] == 0 and after["execution_count"] == 1
    # The second attempt settles normally.
    done = lifecycle.settle_success(backend, second[0], "worker-a", 0.1, None)
    assert done["status"] == "success"
