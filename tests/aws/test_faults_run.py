"""Jobs on the sandbox while a share of AWS requests fails as AWS fails: nothing lost,
nothing done twice (``bench/faults.py`` runs the same at 500 jobs)."""

from __future__ import annotations

import time

import pytest

from skyrun.common.joblog import log_blob_id
from skyrun.compute import Function, JobStatus
from tests.conftest import selected_backends

FAULTS = "throttle=0.05,conflict=0.05,5xx=0.02,lost-response=0.01"


@pytest.fixture
def skyrun_backend():
    """These tests run on the AWS sandbox only."""
    if "aws" not in selected_backends():
        pytest.skip("the AWS sandbox is not among SKYRUN_TEST_BACKENDS")
    return "aws"


def square(x):
    print(f"squaring {x}")
    return x * x


def s3_keys(sandbox, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in sandbox.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


@pytest.mark.long
def test_jobs_under_injected_faults_all_succeed_once(skyrun_sandbox, namespace):
    n = 40
    fn = Function(square, maximum_concurrency=4, retry_count=0)
    fn.save()
    fn.wait_for_completion(interval=0.5, timeout=120)  # the build, without faults
    with skyrun_sandbox.injected_faults(FAULTS + ",seed=5") as report:
        fn.map(range(n))
        fn.wait_for_completion(interval=0.5, timeout=600)
        jobs = list(fn.jobs)
        results = fn.results()
        injected = report()
    assert sum(injected["injected"].values()) >= 5, injected  # faults did happen
    assert len(jobs) == n
    assert [(j.id, j.error_reason) for j in jobs if j.status != JobStatus.SUCCESS] == []
    assert sorted(results) == sorted(x * x for x in range(n))
    # No worker was interrupted, so no attempt was repeated.
    assert {j.execution_count for j in jobs} == {1}
    backend = fn._client.backend
    ids = sorted(j.id for j in jobs)
    keys = s3_keys(skyrun_sandbox, backend.blobs.bucket, f"compute/{fn.namespace}/{fn.id}/")
    # One result object each, under its attempt's own key ({blob id},{mark}.{token}).
    assert sorted(k.rsplit("/", 1)[1].split(",")[0] for k in keys) == ids
    for job in jobs:
        assert backend.blobs.get_record(log_blob_id(fn.namespace, fn.id, job.id)) is not None
    for job in jobs[:5]:
        assert f"squaring {job.args[0]}" in job.log()
    store = backend.store
    counts = store.count_by_status([fn.id])[fn.id]
    assert not any(counts.get(s) for s in ("running", "cancel", "canceling")), counts
    # Workers leave once idle (SKYRUN_WORKER_IDLE_SECONDS is 3 in the tests), and give
    # their slots back.
    deadline = time.monotonic() + 60
    while skyrun_sandbox.batch.live() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not skyrun_sandbox.batch.live()
    assert store.slot_holders("function", fn.id, time.time()) == {}


@pytest.mark.long
def test_map_batches_whose_responses_are_lost_create_no_duplicate(skyrun_sandbox, namespace):
    fn = Function(square, auto_start=False)
    fn.save()
    with skyrun_sandbox.injected_faults("lost-response@dynamodb=0.3,seed=2") as report:
        result = fn.map(range(150), batch_size=50)
        lost = report()["by_operation"]
    assert result.is_success and len(result) == 150
    assert any(k.startswith("lost-response dynamodb.") and
               k.split(".")[1] in ("TransactWriteItems", "PutItem") for k in lost), lost
    stored = list(fn.jobs)
    assert len(stored) == 150
    assert sorted(j.args[0] for j in stored) == list(range(150))


def test_blobs_created_while_responses_are_lost_are_created_once(skyrun_sandbox, namespace):
    from skyrun.catalog import Blob

    with skyrun_sandbox.injected_faults(
            "lost-response@s3:PutObject=0.5,lost-response@dynamodb:PutItem=0.5") as report:
        blobs = [Blob(name=f"lost-{i}", storage_type="data") for i in range(8)]
        for i, blob in enumerate(blobs):
            blob.upload_data(f"payload {i}".encode())
        lost = report()["injected"].get("lost-response", 0)
    assert lost >= 1
    for i, blob in enumerate(blobs):
        assert Blob.get(id=blob.id).data() == f"payload {i}".encode()
