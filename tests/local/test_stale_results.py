"""The embedded blob store's staging of a result: a settle whose SQLite transaction fails
leaves no data in place, and its staged file goes with the job's requeue. (The races of a stale attempt's
result, on both backends: tests/conformance/compute/test_stale_results.py.)
"""

from __future__ import annotations

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


def test_a_settle_whose_transaction_fails_places_nothing(namespace, monkeypatch):
    # SQLite's transaction fails (a full disk): the staged file is not moved into place,
    # nor recorded; it stays beside the place until the job's requeue removes it.
    backend = namespace.backend
    fn = function_record(namespace, maximum_concurrency=2)  # worker-a keeps its slot
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
    assert backend.blobs.get_record(blob_id) is None
    assert not backend.blobs.path(blob_id).exists()  # nor its data in place
    assert len(_staged_files(backend)) == 1
    backend.store.update_job(job["id"], {"lease_expires": time.time() - 0.1})
    assert lifecycle.settle_lost(backend, claimed)["status"] == "pending"
    assert _staged_files(backend) == []
    again = claim_as(backend, fn, "worker-b")
    settled, _, _ = _finish(backend, fn, again, "worker-b", b'"y"')
    assert settled["status"] == "success" and Job.get(job["id"]).result() == "y"
    assert _staged_files(backend) == []
