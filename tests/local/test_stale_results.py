"""A result's data belongs to the attempt whose settle won.

An attempt judged lost (its claim ran out: a stalled worker) may come back after the job
was claimed again and the next attempt succeeded. Its settle does not match and changes
nothing; nor may its result's data: the embedded blob store stages the data beside its
place and moves it in only inside a settle that matched. (On AWS the data is written to
S3 in place before the settle: see docs/aws.md, "Limits and caveats".)
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from skyrun.compute import Job
from skyrun.domain import transitions
from skyrun.domain.keys import result_blob_id
from skyrun.engine import lifecycle
from tests.conformance.compute.transition_support import claim_as, function_record, job_record


def _finish(backend, fn, job, worker, value: bytes):
    return lifecycle.finish_attempt(backend, fn, job, worker, transitions.RETURNED,
                                    {"exit_code": 0, "error_reason": None}, (value, {}),
                                    log_written=False)


def _staged_files(backend) -> list[Path]:
    return list((Path(backend.home) / "blobs").rglob(".tmp-*"))


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
    # worker-a comes back with its own result: its settle matches nothing.
    assert _finish(backend, fn, stale, "worker-a", b'"from a, stale"') == (None, None, None)
    blob_id = result_blob_id(fn["namespace"], fn["id"], job["id"])
    record = backend.blobs.get_record(blob_id)
    assert backend.blobs.get_data(blob_id) == b'"from b"'
    assert record["hash"] == hashlib.md5(b'"from b"').hexdigest() and record["size_bytes"] == 8
    assert Job.get(job["id"]).result() == "from b"
    assert _staged_files(backend) == []  # the stale attempt's staged data is gone


def test_a_settle_that_fails_leaves_no_staged_data(namespace, monkeypatch):
    backend = namespace.backend
    fn = function_record(namespace)
    job = job_record(backend, fn)
    claimed = claim_as(backend, fn, "worker-a")

    def broken(*args, **kwargs):
        raise OSError("the disk went away")

    monkeypatch.setattr(backend.store.db, "transaction", broken)
    try:
        _finish(backend, fn, claimed, "worker-a", b'"x"')
    except OSError:
        pass
    else:
        raise AssertionError("the settle did not fail")
    monkeypatch.undo()
    blob_id = result_blob_id(fn["namespace"], fn["id"], job["id"])
    assert _staged_files(backend) == []
    assert backend.blobs.get_record(blob_id) is None
    assert not backend.blobs.path(blob_id).exists()  # nor its data in place
    # The attempt still holds the job, and settles once the store works again.
    settled, _, _ = _finish(backend, fn, claimed, "worker-a", b'"x"')
    assert settled["status"] == "success" and Job.get(job["id"]).result() == "x"
