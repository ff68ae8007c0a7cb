"""Submitting many jobs with map on the embedded backend: 3,000 jobs in three batches
(API.md 6.3; the same rules on both backends are in tests/conformance/compute/test_map.py)."""

from __future__ import annotations

import pytest

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


def test_the_result_is_a_list_whose_jobs_are_made_when_read(namespace, monkeypatch):
    import copy
    import pickle

    from skyrun.compute import Job
    from skyrun.compute.bulk import JobBulkCreateResult

    fn = Function("operator.add", auto_start=False)
    fn.save()
    made = []
    real = Job._from_record.__func__

    def counting(cls, record, **extra):
        made.append(record["id"])
        return real(cls, record, **extra)

    monkeypatch.setattr(Job, "_from_record", classmethod(counting))
    result = fn.map([[n, 1] for n in range(25)], batch_size=10)
    assert isinstance(result, list) and isinstance(result, JobBulkCreateResult)
    assert len(result) == 25 and result and result.is_success and made == []
    # Reading makes only what is read, once.
    first, last = result[0], result[-1]
    assert first is result[0] and last is result[24] and len(made) == 2
    assert first.args == [0, 1] and last.args == [24, 1] and first.status == "pending"
    assert [j.args for j in result[9:12]] == [[9, 1], [10, 1], [11, 1]]
    assert type(result[9:12]) is list and len(made) == 5
    with pytest.raises(IndexError, match="list index out of range"):
        result[25]
    with pytest.raises(TypeError, match="list indices must be integers or slices"):
        result["x"]
    ids = [j.id for j in result]
    assert len(made) == 25 and len(set(ids)) == 25
    assert [j.args[0] for j in result] == list(range(25))
    assert [j.id for j in result] == ids  # the same objects again, none made twice
    assert len(made) == 25
    # It compares, prints and changes as the list of its Jobs does.
    jobs = [Job.get(i) for i in ids]
    assert result == jobs and jobs == result and not result != jobs
    assert repr(result) == repr(list(result)) and result[3] in result
    assert result.index(result[7]) == 7 and result.count(result[7]) == 1
    assert list(reversed(result)) == jobs[::-1]
    assert [*result] == jobs and [None] + result == [None, *jobs]
    assert result + [None] == [*jobs, None] and 2 * result == jobs * 2
    copied = copy.copy(result)
    assert copied == jobs and type(copied) is JobBulkCreateResult
    extra = Job.get(ids[0])
    result.append(extra)
    assert len(result) == 26 and result[-1] is extra
    result.sort(key=lambda j: j.args[0], reverse=True)
    assert [j.args[0] for j in result[:3]] == [24, 23, 22]
    assert len(copied) == 25  # a copy is a list of its own
    # Any other use makes every Job first: equality on a fresh result, a pickle's list.
    made.clear()
    again = fn.map([[n, 2] for n in range(5)], batch_size=2)
    assert again != jobs and len(made) == 5
    state = again.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert [j.args for j in state[3]] == [[n, 2] for n in range(5)]
    assert again.errors == [] and again.is_success
