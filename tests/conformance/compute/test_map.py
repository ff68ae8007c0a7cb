"""Submitting many jobs with map (API.md 6.3; scenarios 18-22)."""

from __future__ import annotations

import pytest

from skyrun.compute import Function, Job, JobBulkCreateResult, JobStatus
from skyrun.exceptions import ValidationError


def add(a=0, b=0, first=0, second=0):
    return a + b + first + second


@pytest.fixture
def fn(namespace):
    function = Function(add, auto_start=False)
    function.save()
    return function


def test_map_with_kwargs_and_environments(fn):
    result = fn.map([[1, 2], [3, 4]],
                    kwargs=[{"first": 1, "second": 2}, {"first": 1.0, "second": 2.0}],
                    environments=[{"FOO": "BAR"}, {"FOO": "BAZ"}])
    assert isinstance(result, JobBulkCreateResult) and result.is_success
    assert [j.status for j in result] == [JobStatus.PENDING] * 2
    stored = [Job.get(j.id) for j in result]
    assert [j.args for j in stored] == [[1, 2], [3, 4]]
    assert [j.kwargs for j in stored] == [{"first": 1, "second": 2},
                                          {"first": 1.0, "second": 2.0}]
    assert [j.environment for j in stored] == [{"FOO": "BAR"}, {"FOO": "BAZ"}]


def test_generators_pairs_and_deprecated_iterargs(fn):
    result = fn.map((x for x in [(1, 2)]), kwargs=(kv for kv in [[("first", 5)]]))
    assert Job.get(result[0].id).args == [1, 2]
    assert Job.get(result[0].id).kwargs == {"first": 5}
    with pytest.warns(DeprecationWarning, match="iterargs"):
        result = fn.map([[1]], iterargs=[{"b": 2}])
    assert Job.get(result[0].id).kwargs == {"b": 2}


def test_count_mismatch_batch_size_and_unsaved(fn):
    with pytest.raises(ValueError, match="The number of kwargs must match the number of args. "
                                         "Got 2 args and 1 kwargs."):
        fn.map([[1], [2]], kwargs=[{}])
    with pytest.raises(ValueError, match="The number of environments must match"):
        fn.map([[1], [2]], environments=[{}, {}, {}])
    for size in (0, 1001):
        with pytest.raises(ValueError, match="Batch size must between 1 and 1000"):
            fn.map([[1]], batch_size=size)
    with pytest.raises(ValueError, match="Cannot execute a Function that has not been saved"):
        Function(add).map([[1]])
    assert fn.jobs.count() == 0


def test_item_rules(fn):
    result = fn.map(["Hello", "World"])
    assert [Job.get(j.id).args for j in result] == [["Hello"], ["World"]]
    result = fn.map([[1, 2], (3, 4), range(2), 5, None, {"a": 1}])
    assert [Job.get(j.id).args for j in result] == [[1, 2], [3, 4], [0, 1], [5], [None],
                                                    [{"a": 1}]]


def test_partial_failure_policy(fn, monkeypatch):
    store = fn._client.backend.store
    real = store.insert_jobs
    calls = []

    def failing_second(reference_id, records):
        calls.append(reference_id)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(reference_id, records)

    monkeypatch.setattr(store, "insert_jobs", failing_second)
    result = fn.map([[1, 2], [3, 4]], batch_size=1)
    assert result.is_success is False
    assert len(result) == 1
    error = result.errors[0]
    assert error.args == [[3, 4]]
    assert error.reference_id == calls[1]
    assert str(error) == f"{calls[1]}: disk on fire"
    assert isinstance(error.exception, RuntimeError)

    calls.clear()
    monkeypatch.setattr(store, "insert_jobs",
                        lambda ref, recs: (_ for _ in ()).throw(RuntimeError("first")))
    with pytest.raises(RuntimeError, match="first"):
        fn.map([[1], [2]], batch_size=1)


def test_inputs_must_be_json_and_small(fn):
    with pytest.raises(ValidationError, match="job 1: args are not JSON serializable"):
        fn.map([[1], [{1, 2}]])
    with pytest.raises(ValidationError, match="job 0: kwargs are not JSON serializable"):
        fn.map([[1]], kwargs=[{"x": object()}])
    with pytest.raises(ValidationError) as err:
        fn.map([[1], ["x" * 300_000]])
    assert "job 1" in str(err.value) and "262144" in str(err.value) and "Blobs" in str(err.value)
    with pytest.raises(ValidationError, match="job 0: args are not JSON serializable"):
        fn.map([b"bytes"])
    with pytest.raises(ValidationError, match="environment"):
        fn.map([[1]], environments=[{"A": 1}])
    with pytest.raises(ValidationError, match="job 0: args and kwargs take"):
        fn("y" * 300_000)
    assert fn.jobs.count() == 0


def test_single_job_inputs_and_tags(fn):
    job = Job(function_id=fn.id, args=[1, 2], kwargs={"key": "blah"},
              environment={"FOO": "BAR"}, tags=["tag1", "tag2"])
    assert job.state == "new"
    job.save()
    assert job.state == "saved"
    d = Job.get(job.id).to_dict()
    assert set(d) == {"id", "function_id", "creation_date", "args", "kwargs", "environment",
                      "error_reason", "execution_count", "exit_code", "last_completion_date",
                      "last_execution_date", "runtime", "status", "statistics", "tags",
                      "provisioning_time", "pull_time"}
    assert (d["args"], d["kwargs"], d["environment"], d["tags"]) == \
        ([1, 2], {"key": "blah"}, {"FOO": "BAR"}, ["tag1", "tag2"])
    from skyrun.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        Job(function_id="no-such-function", args=[1]).save()
