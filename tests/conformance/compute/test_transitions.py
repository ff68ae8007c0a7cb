"""The job state machine (skyrun.domain.transitions) on each backend's store: every edge
of the diagram, and the races a compare-and-set on the status read must win.

The races are in test_races.py; both drive the store through
:mod:`tests.conformance.compute.transition_support`.
"""

from __future__ import annotations

import time

import pytest

from skyrun.common.joblog import log_blob_id
from skyrun.compute import Job
from skyrun.domain import transitions
from skyrun.domain.keys import result_blob_id
from skyrun.engine import lifecycle
from skyrun.engine.workerslots import take_both
from tests.conformance.compute.transition_support import claim_as, function_record, job_record


@pytest.fixture
def backend(namespace):
    return namespace.backend


# -- every edge -------------------------------------------------------------------------
def _running(backend, client, **settings) -> tuple[dict, dict]:
    fn = function_record(client, **settings)
    job_record(backend, fn)
    return fn, claim_as(backend, fn, "worker-a")


def _canceled_running(backend, client) -> dict:
    _, job = _running(backend, client)
    return lifecycle.cancel_job(backend, job)


def _edge_claim(backend, client):
    fn = function_record(client)
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    assert claimed["id"] == job["id"] and claimed["execution_count"] == 1
    assert claimed["worker_id"] == "worker-a" and claimed["lease_expires"] > time.time()
    return job, claimed


def _edge_cancel_pending(backend, client):
    job = job_record(backend, function_record(client))
    return job, lifecycle.cancel_job(backend, job)


def _edge_edit_inputs(backend, client):
    job = job_record(backend, function_record(client))
    model = Job.get(job["id"])
    model.args = [7]
    model.save()
    after = backend.store.get_job(job["id"])
    assert Job.get(job["id"]).args == [7]
    return job, after


def _edge_success(backend, client):
    _, job = _running(backend, client)
    return job, lifecycle.settle_success(backend, job, "worker-a", 0.1, None)


def _edge_failure_with_retry(backend, client):
    _, job = _running(backend, client, retry_count=1)
    after = lifecycle.settle_failure(backend, job, "worker-a", "E: x", 1, 0.1, None, 1)
    assert after["failures"] == 1
    return job, after


def _edge_failure(backend, client):
    _, job = _running(backend, client)
    return job, lifecycle.settle_failure(backend, job, "worker-a", "E: x", 1, 0.1, None, 0)


def _edge_timeout(backend, client):
    _, job = _running(backend, client)
    return job, lifecycle.settle_timeout(backend, job, "worker-a", 1, 1.5, None)


def _edge_lost(backend, client):
    _, job = _running(backend, client)
    after = lifecycle.settle_lost(backend, job)
    assert after["losses"] == 1 and after["worker_id"] is None
    return job, after


def _edge_last_loss(backend, client):
    fn = function_record(client)
    job_record(backend, fn, losses=transitions.MAX_LOSSES - 1)
    job = claim_as(backend, fn, "worker-a")
    after = lifecycle.settle_lost(backend, job)
    assert "Worker lost" in after["error_reason"]
    return job, after


def _edge_cancel_running(backend, client):
    _, job = _running(backend, client)
    return job, lifecycle.cancel_job(backend, job)


def _edge_begin_canceling(backend, client):
    job = _canceled_running(backend, client)
    return job, lifecycle.begin_canceling(backend, job, "worker-a")


def _edge_killed(backend, client):
    job = lifecycle.begin_canceling(backend, _canceled_running(backend, client), "worker-a")
    return job, lifecycle.settle_canceled(backend, job, "worker-a", 0.1, None)


def _edge_failure_while_canceling(backend, client):
    job = _canceled_running(backend, client)
    return job, lifecycle.settle_failure(backend, job, "worker-a", "E: x", 1, 0.1, None, 3)


def _edge_lost_while_canceling(backend, client):
    job = _canceled_running(backend, client)
    return job, lifecycle.settle_lost(backend, job)


def _edge_success_while_canceling(backend, client):
    job = _canceled_running(backend, client)
    return job, lifecycle.settle_success(backend, job, "worker-a", 0.1, None)


def _edge_timeout_while_canceling(backend, client):
    job = _canceled_running(backend, client)
    return job, lifecycle.settle_timeout(backend, job, "worker-a", 1, 1.5, None)


def _rerun_from(how):
    def edge(backend, client):
        _, ended = how(backend, client)
        after = lifecycle.rerun_job(backend, ended)
        assert after["execution_count"] == 0 and after["error_reason"] is None
        return ended, after
    return edge


EDGE_DRIVERS = {
    "claim": _edge_claim,
    "cancel pending": _edge_cancel_pending,
    "edit inputs": _edge_edit_inputs,
    "success": _edge_success,
    "failure with retry": _edge_failure_with_retry,
    "failure": _edge_failure,
    "timeout": _edge_timeout,
    "lost worker": _edge_lost,
    "lost worker, last loss": _edge_last_loss,
    "cancel running": _edge_cancel_running,
    "worker acts on cancel": _edge_begin_canceling,
    "killed for cancel": _edge_killed,
    "failure while canceling": _edge_failure_while_canceling,
    "lost worker while canceling": _edge_lost_while_canceling,
    "success while canceling": _edge_success_while_canceling,
    "timeout while canceling": _edge_timeout_while_canceling,
    "rerun failure": _rerun_from(_edge_failure),
    "rerun timeout": _rerun_from(_edge_timeout),
    "rerun canceled": _rerun_from(_edge_cancel_pending),
}


def test_every_edge_of_the_diagram(namespace, backend):
    assert set(EDGE_DRIVERS) == {name for name, _, _ in transitions.EDGES}
    walked = []
    for name, source, target in transitions.EDGES:
        before, after = EDGE_DRIVERS[name](backend, namespace)
        assert (before["status"], after["status"]) == (source, target), name
        assert backend.store.get_job(after["id"])["status"] == target, name
        walked.append(name)
    assert len(walked) == len(transitions.EDGES)


def test_rules_refuse_what_the_diagram_does_not_allow():
    t = time.time()
    job = {"id": "j", "status": "success", "worker_id": None, "last_execution_date": t}
    assert transitions.cancel(job, t) is None
    assert transitions.rerun(job, t) is None
    assert transitions.settle(job, "w", transitions.RETURNED, t, 0) is None
    assert transitions.lose(job, t) is None
    running = dict(job, status="running", worker_id="w")
    assert transitions.edit_inputs(running, {"args": "[]"}) is None
    # Only the worker holding the attempt settles it.
    assert transitions.settle(running, "other", transitions.FAILED, t, 3) is None
    assert transitions.begin_canceling(dict(running, status="cancel"), "other") is None
    with pytest.raises(ValueError, match="unknown attempt outcome"):
        transitions.settle(running, "w", "exploded", t, 0)


def test_the_workers_settle_and_claim_loses_no_cancel(namespace, backend, monkeypatch):
    # The worker's path (one write on the embedded backend: settle + blobs + next claim)
    # meets a cancel landing after its read, as test_races does for the separate steps.
    fn = function_record(namespace, retry_count=2)
    first = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    second = job_record(backend, fn)
    store = backend.store
    name = "settle_and_claim" if hasattr(store, "settle_and_claim") else "update_job"
    original = getattr(store, name)
    fired = []

    def hooked(job_id, *args, **kwargs):
        if not fired:
            fired.append(job_id)
            lifecycle.cancel_job(backend, store.get_job(first["id"]))
        return original(job_id, *args, **kwargs)

    monkeypatch.setattr(store, name, hooked)
    store.update_function(fn["id"], {"status": "ready"})
    settled, nxt, _ = lifecycle.finish_attempt(
        backend, fn, claimed, "worker-a", transitions.FAILED,
        {"error_reason": "E: x", "exit_code": 1}, claim_next=True)
    store.update_function(fn["id"], {"status": "stopped"})
    monkeypatch.undo()
    assert fired
    assert settled["status"] == "canceled"
    assert store.get_job(first["id"])["status"] == "canceled"
    if nxt is None:  # a store that claims separately
        nxt = claim_as(backend, fn, "worker-a")
    assert nxt["id"] == second["id"] and nxt["worker_id"] == "worker-a"
    lifecycle.settle_success(backend, nxt, "worker-a", 0.1, None)
    assert claim_as(backend, fn, "worker-b") is None  # the canceled job never runs again


def test_a_result_survives_a_cancel_landing_before_its_settle(namespace, backend,
                                                              monkeypatch):
    # A job canceled while its attempt returns: the first settle finds `cancel` instead of
    # `running` and is tried again ("success while canceling"), with the same result,
    # which must still be there to store (API.md §8.2: the attempt keeps its outcome).
    fn = function_record(namespace)
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    store = backend.store
    original = store.settle_and_claim
    fired = []

    def hooked(job_id, *args, **kwargs):
        if not fired:
            fired.append(job_id)
            assert lifecycle.cancel_job(backend, store.get_job(job_id))["status"] == "cancel"
        return original(job_id, *args, **kwargs)

    monkeypatch.setattr(store, "settle_and_claim", hooked)
    settled, _, _ = lifecycle.finish_attempt(
        backend, fn, claimed, "worker-a", transitions.RETURNED,
        {"exit_code": 0, "error_reason": None}, (b'"kept"', {}), log_written=False)
    monkeypatch.undo()
    assert fired and settled["status"] == "success"
    assert Job.get(job["id"]).result() == "kept"
    assert backend.blobs.get_record(result_blob_id(fn["namespace"], fn["id"], job["id"]))[
        "size_bytes"] == 6

def test_a_settle_writes_its_result_and_log_records_with_it(namespace, backend, monkeypatch):
    # The result and log blob records come with the settle (one transaction on AWS, one
    # SQLite write embedded): no blob store write of their own. The result's data is in
    # place by then; an earlier run's log blob survives a run that wrote no line.
    fn = function_record(namespace, maximum_concurrency=2)
    jobs = [job_record(backend, fn) for _ in range(2)]
    ns, fid = fn["namespace"], fn["id"]
    earlier = jobs[1]["id"]
    backend.logs.append(ns, fid, earlier, [(round(time.time(), 6), "an earlier run")])
    backend.logs.seal(ns, fid, earlier)
    kept = backend.blobs.get_data(log_blob_id(ns, fid, earlier))

    def no_write(*args, **kwargs):
        pytest.fail("a blob record was written apart from the settle")

    for job in jobs:
        claimed = claim_as(backend, fn, "worker-a")
        assert claimed["id"] == job["id"]
        monkeypatch.setattr(backend.blobs, "put", no_write)
        monkeypatch.setattr(backend.blobs, "create_empty", no_write, raising=False)
        if hasattr(backend.blobs, "dynamodb"):
            monkeypatch.setattr(backend.blobs.dynamodb, "put_item", no_write)
        settled, _, _ = lifecycle.finish_attempt(
            backend, fn, claimed, "worker-a", transitions.RETURNED,
            {"exit_code": 0, "error_reason": None}, (f'"{job["id"]}"'.encode(), {}),
            log_written=False)
        monkeypatch.undo()
        assert settled["status"] == "success"
        result = backend.blobs.get_record(result_blob_id(ns, fid, job["id"]))
        assert result["storage_type"] == "compute" and result["size_bytes"] == len(job["id"]) + 2
        assert Job.get(job["id"]).result() == job["id"]
    assert backend.blobs.get_data(log_blob_id(ns, fid, jobs[0]["id"])) == b""
    assert backend.blobs.get_data(log_blob_id(ns, fid, earlier)) == kept != b""


def test_a_settle_claims_the_next_job_in_the_same_write(namespace, backend, monkeypatch):
    # A worker finishing one job and taking the next: one write (SQLite transaction or
    # TransactWriteItems) for both, within maximum_concurrency, the next job running.
    fn = function_record(namespace, maximum_concurrency=1)
    first, second = job_record(backend, fn), job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    assert claimed["id"] == first["id"]
    backend.store.update_function(fn["id"], {"status": "ready"})
    # The worker's slots, as it holds them while it runs (taken before counting).
    held = take_both(backend.store, backend.store.get_function(fn["id"]), "worker-a")
    client = getattr(backend.store, "client", None)
    sent = []
    if client is not None:  # AWS: count the transactions
        original = client.transact_write_items
        monkeypatch.setattr(client, "transact_write_items",
                            lambda **kw: sent.append(kw) or original(**kw))
    try:
        settled, nxt, _ = lifecycle.finish_attempt(
            backend, fn, claimed, "worker-a", transitions.RETURNED,
            {"exit_code": 0, "error_reason": None}, (b"1", {}), claim_next=True, held=held)
    finally:
        backend.store.update_function(fn["id"], {"status": "stopped"})
        monkeypatch.undo()
    assert settled["status"] == "success"
    assert nxt["id"] == second["id"] and nxt["worker_id"] == "worker-a"
    assert backend.store.get_job(second["id"])["status"] == "running"
    assert [j["id"] for j in backend.store.active_jobs(fn["id"])] == [second["id"]]
    if client is not None:
        assert len(sent) == 1
    assert lifecycle.settle_success(backend, nxt, "worker-a", 0.1, None)["status"] == "success"
    assert backend.store.active_jobs(fn["id"]) == []
