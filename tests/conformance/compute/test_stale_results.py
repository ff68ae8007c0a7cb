"""A result's data belongs to the attempt whose settle won, on both backends.

An attempt judged lost (its claim ran out: a stalled worker) may come back after the job
was claimed again and the next attempt succeeded. Its settle does not match and changes
nothing; nor may its result's data. The embedded blob store stages the data beside its
place and moves it in only inside a settle that matched; on S3 each attempt writes its
own object (``{blob id},{mark}.{token}``), which only the record of a settle that
landed names. What a settle that did not match staged is removed at once; what a settle
that raised staged stays (it may have landed, its answer lost) until the job's requeue;
what a settle stored stays.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from skyrun.compute import Job
from skyrun.domain import transitions
from skyrun.domain.keys import attempt_mark, result_blob_id
from skyrun.engine import lifecycle
from tests.conformance.compute.transition_support import claim_as, function_record, job_record
from tests.support import stored_data_exists, stray_data


def _finish(backend, fn, job, worker, value: bytes):
    return lifecycle.finish_attempt(backend, fn, job, worker, transitions.RETURNED,
                                    {"exit_code": 0, "error_reason": None}, (value, {}),
                                    log_written=False)


def test_a_stale_attempts_result_never_replaces_the_winners(namespace):
    backend = namespace.backend
    fn = function_record(namespace, maximum_concurrency=2)  # worker-a keeps its slot
    job = job_record(backend, fn)
    stale = claim_as(backend, fn, "worker-a")
    # worker-a stalls past its lease: the job is requeued and worker-b runs it.
    backend.store.update_job(job["id"], {"lease_expires": time.time() - 1})
    assert lifecycle.settle_lost(backend, stale)["status"] == "pending"
    current = claim_as(backend, fn, "worker-b")
    settled, _, _ = _finish(backend, fn, current, "worker-b", b'"from b"')
    assert settled["status"] == "success"
    blob_id = result_blob_id(fn["namespace"], fn["id"], job["id"])
    href = backend.blobs.get_record(blob_id)["href"]
    # worker-a comes back with its own result: its settle matches nothing.
    assert _finish(backend, fn, stale, "worker-a", b'"from a, stale"') == (None, None, None)
    record = backend.blobs.get_record(blob_id)
    assert record["href"] == href and stored_data_exists(namespace, href)
    assert backend.blobs.get_data(blob_id) == b'"from b"'
    assert record["hash"] == hashlib.md5(b'"from b"').hexdigest() and record["size_bytes"] == 8
    assert Job.get(job["id"]).result() == "from b"
    assert stray_data(backend, blob_id) == []  # the stale attempt's data is gone


def _requeue_as_lost(backend, claimed: dict) -> None:
    # The worker left its claim to run out (as after a fault of its own), or died; the
    # reaper requeues the job.
    backend.store.update_job(claimed["id"], {"lease_expires": time.time() - 0.1})
    assert lifecycle.settle_lost(backend, claimed)["status"] == "pending"


def _finish_while_the_store_fails(backend, monkeypatch, fn, job, value: bytes) -> None:
    # worker-a's settle raises, as when the store cannot be reached.
    def broken(*args, **kwargs):
        raise OSError("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(backend.store, "settle_and_claim", broken)
        with pytest.raises(OSError, match="went away"):
            _finish(backend, fn, job, "worker-a", value)


def test_a_settle_that_fails_leaves_its_data_to_the_requeue(namespace, monkeypatch):
    # A settle that raised may have landed (its answer lost), so its data is kept; the
    # worker leaves its claim to run out, and the requeue removes the data.
    backend = namespace.backend
    fn = function_record(namespace, maximum_concurrency=2)  # worker-a keeps its slot
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    _finish_while_the_store_fails(backend, monkeypatch, fn, claimed, b'"x"')
    blob_id = result_blob_id(fn["namespace"], fn["id"], job["id"])
    assert backend.blobs.get_record(blob_id) is None
    assert len(stray_data(backend, blob_id)) == 1
    _requeue_as_lost(backend, claimed)
    assert stray_data(backend, blob_id) == []
    again = claim_as(backend, fn, "worker-b")
    settled, _, _ = _finish(backend, fn, again, "worker-b", b'"y"')
    assert settled["status"] == "success" and Job.get(job["id"]).result() == "y"
    assert stray_data(backend, blob_id) == []


def test_a_settle_whose_answer_was_lost_keeps_its_data(namespace, monkeypatch):
    # The write landed, but the worker saw an error (a connection cut after the commit):
    # the data its record names must stay.
    backend = namespace.backend
    fn = function_record(namespace)
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")
    original = backend.store.settle_and_claim

    def answer_lost(*args, **kwargs):
        original(*args, **kwargs)
        raise OSError("the connection was cut")

    monkeypatch.setattr(backend.store, "settle_and_claim", answer_lost)
    with pytest.raises(OSError, match="cut"):
        _finish(backend, fn, claimed, "worker-a", b'"landed"')
    monkeypatch.undo()
    blob_id = result_blob_id(fn["namespace"], fn["id"], job["id"])
    assert backend.store.get_job(job["id"])["status"] == "success"
    assert Job.get(job["id"]).result() == "landed"
    assert stored_data_exists(namespace, backend.blobs.get_record(blob_id)["href"])
    assert stray_data(backend, blob_id) == []


def test_a_killed_workers_staged_result_goes_when_its_job_is_requeued(namespace):
    # The worker wrote its result and died before its settle: nothing names that data.
    # The reaper's requeue removes what the lost claim staged, and never what the next
    # attempt stages.
    backend = namespace.backend
    fn = function_record(namespace, maximum_concurrency=2)  # worker-a keeps its slot
    ns, fid, jid = fn["namespace"], fn["id"], job_record(backend, fn)["id"]
    claimed = claim_as(backend, fn, "worker-a")
    blob_id = result_blob_id(ns, fid, jid)
    backend.blobs.staged_record(lifecycle.result_record(ns, fid, jid, {}), b'"orphan"',
                                attempt_mark(claimed))
    assert len(stray_data(backend, blob_id)) == 1
    _requeue_as_lost(backend, claimed)
    assert stray_data(backend, blob_id) == []
    again = claim_as(backend, fn, "worker-b")
    assert again["execution_count"] == claimed["execution_count"] + 1
    running = backend.blobs.staged_record(lifecycle.result_record(ns, fid, jid, {}),
                                          b'"running"', attempt_mark(again))
    # A sweep of the lost attempt that comes late (a second reaper) leaves it alone.
    assert backend.blobs.sweep_staged([blob_id], attempt_mark(claimed)) == 0
    assert len(stray_data(backend, blob_id)) == 1
    backend.blobs.discard_staged([running])
    settled, _, _ = _finish(backend, fn, again, "worker-b", b'"next"')
    assert settled["status"] == "success" and Job.get(jid).result() == "next"
    assert stray_data(backend, blob_id) == []


def test_a_late_sweep_leaves_a_rerun_attempt_of_the_same_number_alone(namespace,
                                                                     monkeypatch):
    # The requeue of a lost attempt may end the job (it was being canceled); a rerun
    # then counts attempts from 1 again. A sweep of the lost claim that comes late, after
    # the rerun's attempt 1 staged its result, must not take that result.
    backend = namespace.backend
    fn = function_record(namespace, maximum_concurrency=2)  # worker-a keeps its slot
    ns, fid, jid = fn["namespace"], fn["id"], job_record(backend, fn)["id"]
    claimed = claim_as(backend, fn, "worker-a")
    lost = lifecycle.cancel_job(backend, claimed)
    assert lost["status"] == "cancel"
    late: list = []
    monkeypatch.setattr(lifecycle, "_sweep_lost_attempt", lambda b, j: late.append((b, j)))
    backend.store.update_job(jid, {"lease_expires": time.time() - 0.1})
    assert lifecycle.settle_lost(backend, lost)["status"] == "canceled"
    monkeypatch.undo()
    assert lifecycle.rerun_job(backend, backend.store.get_job(jid))["status"] == "pending"
    again = claim_as(backend, fn, "worker-b")
    assert again["execution_count"] == claimed["execution_count"] == 1
    running = backend.blobs.staged_record(lifecycle.result_record(ns, fid, jid, {}),
                                          b'"rerun"', attempt_mark(again))
    lifecycle._sweep_lost_attempt(*late[0])
    blob_id = result_blob_id(ns, fid, jid)
    assert len(stray_data(backend, blob_id)) == 1
    backend.blobs.discard_staged([running])
    settled, _, _ = _finish(backend, fn, again, "worker-b", b'"rerun"')
    assert settled["status"] == "success" and Job.get(jid).result() == "rerun"
    assert stray_data(backend, blob_id) == []


def test_a_stale_attempt_whose_settle_raises_leaves_no_data(namespace, monkeypatch):
    # The job was requeued (its sweep done) and claimed again; the stale worker's own
    # settle then fails with an error. Nothing can store its data any more: it goes.
    backend = namespace.backend
    fn = function_record(namespace, maximum_concurrency=2)  # worker-a keeps its slot
    ns, fid, jid = fn["namespace"], fn["id"], job_record(backend, fn)["id"]
    stale = claim_as(backend, fn, "worker-a")
    _requeue_as_lost(backend, stale)
    again = claim_as(backend, fn, "worker-b")
    _finish_while_the_store_fails(backend, monkeypatch, fn, stale, b'"stale"')
    blob_id = result_blob_id(ns, fid, jid)
    assert stray_data(backend, blob_id) == []
    settled, _, _ = _finish(backend, fn, again, "worker-b", b'"b"')
    assert settled["status"] == "success" and Job.get(jid).result() == "b"
