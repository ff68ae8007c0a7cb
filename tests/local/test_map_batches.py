"""Submitting many jobs with map on the embedded backend: 3,000 jobs in three batches
(API.md 6.3; the same rules on both backends are in tests/conformance/compute/test_map.py)."""

from __future__ import annotations

from skyrun.compute import Function


# 3,000 jobs in 120 transactions take minutes in the sandbox; the AWS store's batches and
# their idempotency are tested in tests/conformance/ports/test_store_ports.py.
def test_batches_and_reference_ids(namespace):
    fn = Function("operator.add", auto_start=False)  # stored, never run
    fn.save()
    result = fn.map([[n, n + 1] for n in range(3000)])
    assert len(result) == 3000 and result.is_success
    references = {j.id.rsplit("-", 1)[0] for j in result}
    assert len(references) == 3
    assert fn.jobs.count() == 3000
    # Storing a batch again under its reference id creates nothing new.
    store = fn._client.backend.store
    reference = next(iter(references))
    again = store.insert_jobs(reference, [dict(store.get_job(result[0].id), id="another")])
    assert fn.jobs.count() == 3000
    assert {r["id"] for r in again} == {j.id for j in result if j.id.startswith(reference)}
    assert [j.args for j in result[:3]] == [[0, 1], [1, 2], [2, 3]]
