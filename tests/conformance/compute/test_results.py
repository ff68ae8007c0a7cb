"""Results, logs, statistics and identity (API.md 11; scenarios 31-37, 41, 43)."""

from __future__ import annotations

import os
import time

import pytest

from skyrun.auth import Auth
from skyrun.compute import ComputeResult, Function, Job, JobStatus, Serializable
from skyrun.exceptions import NotFoundError


def returns(kind):
    from skyrun.compute import ComputeResult

    if kind == "dict":
        return {"test": "blah"}
    if kind == "float":
        return 15.68
    if kind == "none":
        return None
    if kind == "null-tagged":
        return ComputeResult(None, tags=["t"])
    if kind == "zero-bytes":
        return ComputeResult(b"0")
    if kind == "png":
        return ComputeResult(b"\x89PNG\r\n\x1a\n", description="d", extra_properties={"k": 1},
                             tags=["a"])
    if kind == "set":
        return set()
    if kind == "bad-serializer":
        class Bad:
            def serialize(self):
                return "not bytes"
        return Bad()
    if kind == "custom":
        return ComputeResult(b"payload")
    raise AssertionError(kind)


class CustomString(Serializable):
    @classmethod
    def deserialize(cls, data):
        return "custom"


@pytest.fixture(scope="module")
def finished(skyrun_home):
    """One Function whose jobs return each kind of result, all finished."""
    client = _module_client()
    fn = Function(returns, maximum_concurrency=4, client=client)
    fn.save()
    kinds = ["dict", "float", "none", "null-tagged", "zero-bytes", "png", "set",
             "bad-serializer", "custom"]
    jobs = dict(zip(kinds, fn.map(kinds), strict=True))
    fn.wait_for_completion(interval=0.05, timeout=120)
    for job in jobs.values():
        job.refresh()
    return fn, jobs


def _module_client():
    from skyrun.compute import ComputeClient

    return ComputeClient(auth=Auth(org="acme", user=f"results{os.getpid()}"))


def test_values_round_trip(finished):
    fn, jobs = finished
    assert jobs["dict"].result() == {"test": "blah"}
    assert jobs["float"].result() == 15.68
    assert jobs["none"].result() is None
    assert jobs["null-tagged"].result() is None
    assert jobs["zero-bytes"].result() == 0
    assert jobs["png"].result() == b"\x89PNG\r\n\x1a\n"
    assert jobs["custom"].result(CustomString) == "custom"
    with pytest.raises(ValueError, match="must implement Serializable"):
        jobs["dict"].result(bool)
    successes = [j for j in jobs.values() if j.status == JobStatus.SUCCESS]
    assert len(fn.results()) == len(successes) == 7


def test_result_blobs(finished):
    fn, jobs = finished
    blobs = fn._client.backend.blobs
    ns = fn.namespace
    assert blobs.get_record(f"compute/{ns}/{fn.id}/{jobs['none'].id}") is None
    tagged = blobs.get_record(f"compute/{ns}/{fn.id}/{jobs['null-tagged'].id}")
    assert tagged["tags"] == ["t"]
    assert blobs.get_data(tagged["id"]) == b"null"
    blob = jobs["png"].result_blob()
    assert blob.name == f"{fn.id}/{jobs['png'].id}"
    assert blob.storage_type == "compute"
    assert blob.namespace == fn.namespace
    assert blob.description == "d"
    assert blob.tags == ["a"]
    assert blob.extra_properties == {"k": 1}


def test_unserializable_results_fail(finished):
    _, jobs = finished
    assert jobs["set"].status == JobStatus.FAILURE
    assert "Unable to serialize result" in jobs["set"].error_reason
    assert jobs["bad-serializer"].status == JobStatus.FAILURE
    assert "must return bytes" in jobs["bad-serializer"].error_reason
    with pytest.raises(ValueError, match=f"Job {jobs['set'].id} has not completed successfully, "
                                         "status is failure"):
        jobs["set"].result()


def talk():
    print("test")
    print("log")
    return 1


def test_log_lines_and_blobs(namespace):
    job = Function(talk)()
    job.wait_for_completion(interval=0.05, timeout=60)
    lines = job.log().split("\n")
    assert len(lines) == 2 and lines[0].endswith(" test") and lines[1].endswith(" log")
    assert job.log(timestamps=False) == "test\nlog"
    assert list(job.iter_log(timestamps=False)) == ["test", "log"]
    ns, fid = job.function.namespace, job.function_id
    data = job._client.backend.blobs.get_data(f"logs/{ns}/{fid}/{job.id}")
    import json

    records = [json.loads(line) for line in data.decode().splitlines()]
    assert [r["log"] for r in records] == ["test", "log"]
    assert all(r["date"].endswith("Z") for r in records)


def slow(seconds):
    time.sleep(seconds)
    return seconds


def test_result_of_unfinished_job_refreshes_once(namespace):
    fn = Function(slow, auto_start=False)
    fn.save()
    job = fn(1)
    calls = []
    real = job.refresh
    job.refresh = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
    with pytest.raises(ValueError, match=f"Job {job.id} has not completed, status is pending. "
                                         "Please wait for the job to complete."):
        job.result()
    assert len(calls) == 1


def test_build_log_blob_equals_build_log(namespace):
    import gzip

    fn = Function(talk)
    fn.save()
    # The build log blob is written when the build ends (a new environment's build on
    # AWS may still run: this test alone in a run builds one).
    fn.wait_for_completion(interval=0.2, timeout=120)
    data = fn._client.backend.blobs.get_data(f"logs/{fn.namespace}/{fn.id}")
    assert gzip.decompress(data).decode() == fn.build_log()


def whoami():
    from skyrun.auth import Auth
    from skyrun.compute import Function

    auth = Auth.get_default_auth()
    me = Function.get(os.environ["SKYRUN_FUNCTION_ID"])
    return {"org": auth.payload["org"], "user": auth.namespace, "fn": me.name,
            "job": os.environ["SKYRUN_JOB_ID"]}


def test_identity_from_environment_and_inside_jobs(monkeypatch):
    monkeypatch.setenv("SKYRUN_ORG", "acme")
    monkeypatch.setenv("SKYRUN_USER", "j doe")
    from skyrun.compute import ComputeClient

    ComputeClient.set_default_client(ComputeClient())
    auth = Auth()
    assert auth.payload["org"] == "acme" and auth.namespace == "j_doe"
    assert Auth.get_default_auth().namespace == "j_doe"
    fn = Function(whoami)
    fn.save()
    assert fn.namespace == "acme:j_doe"
    job = fn()
    job.wait_for_completion(interval=0.05, timeout=60)
    assert job.result() == {"org": "acme", "user": "j_doe", "fn": "whoami", "job": job.id}


def hog():
    import time

    block = bytearray(200 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    end = time.time() + 3
    while time.time() < end:
        sum(range(1000))
    return len(block)


def test_statistics_are_measured(namespace):
    job = Function(hog, memory=2048)()
    job.wait_for_completion(interval=0.1, timeout=60)
    assert job.status == JobStatus.SUCCESS, job.error_reason
    stats = job.statistics
    assert stats.memory.peak_bytes >= 200 * 2**20
    assert stats.cpu.time > 0
    assert job.runtime >= 3
    assert 0 < stats.memory.peak_percentage <= 100
    assert job.provisioning_time is not None and job.pull_time is not None


def test_blob_reads_for_missing_job(namespace):
    with pytest.raises(NotFoundError):
        Job.get("no-such-job")
    with pytest.raises(NotFoundError):
        Function.get("missing-id")
    _ = ComputeResult  # imported for the module's jobs
