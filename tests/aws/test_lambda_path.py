"""The Lambda path of the AWS backend, on the run's shared sandbox (whose Lambda stand-in
runs the invocations): what differs from Batch only — the target choice, launch by
invocation, the time budget, timeout, cancel, logs and a lost invocation. The rest of
the job lifecycle is the conformance suite's, which runs on the sandbox already."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skyrun.backends.aws import resources as r
from skyrun.compute import Function, JobStatus
from tests.conftest import selected_backends, wait_until

pytestmark = pytest.mark.skipif("aws" not in selected_backends(),
                                reason="SKYRUN_TEST_BACKENDS leaves out the aws backend")
DEADLINE = 120


@pytest.fixture
def skyrun_backend() -> str:
    """Every test here runs on the AWS backend's sandbox."""
    return "aws"


@pytest.fixture
def stand_in(skyrun_sandbox):
    """The sandbox's Lambda stand-in, its time budget restored after the test."""
    workers = skyrun_sandbox.lambda_workers
    assert workers is not None, "the sandbox runs no Lambda stand-in"
    yield workers
    workers.budget = None


def where(x):
    import os

    return [x, os.environ.get("AWS_LAMBDA_FUNCTION_NAME"), os.environ.get("AWS_BATCH_JOB_ID")]


def chatty(x):
    print(f"hello {x} from a job")
    return x


def sleeper(seconds):
    import time

    time.sleep(seconds)
    return "woke"


def gated(path):
    import os
    import time

    open(path + ".started", "w").close()
    while not os.path.exists(path):
        time.sleep(0.05)
    return "released"


def _runs(stand_in, function_id: str) -> list:
    return [r for r in list(stand_in.runs) if r.event.get("function_id") == function_id]


def _batch_jobs(sandbox, function_id: str) -> list[dict]:
    batch = sandbox.client("batch")
    queue = sandbox.outputs[r.JOB_QUEUE_ARN]
    return [j for j in batch.list_jobs(jobQueue=queue)["jobSummaryList"]
            if j["jobName"] == f"skyrun-{function_id}"]


def test_the_target_choice_launches_on_lambda_or_batch(stand_in, skyrun_sandbox):
    quick = Function(where, name="quick", timeout=60)
    quick.save()
    slow = Function(where, name="slow")  # the API's default timeout: 3,600 s
    slow.save()
    quick.map([1, 2])
    slow.map([3])
    quick.wait_for_completion(timeout=DEADLINE, interval=0.2)
    slow.wait_for_completion(timeout=DEADLINE, interval=0.2)

    prefix = skyrun_sandbox.outputs[r.LAMBDA_FUNCTION_PREFIX]
    quick.refresh()
    name = prefix + quick._record["env_hash"]
    assert sorted(quick.results(), key=lambda v: v[0]) == [[1, name, None], [2, name, None]]
    assert _runs(stand_in, quick.id) and not _batch_jobs(skyrun_sandbox, quick.id)
    assert f"Lambda function: {name}" in quick.build_log()
    [result] = slow.results()
    assert result[:2] == [3, None] and result[2]
    assert _batch_jobs(skyrun_sandbox, slow.id) and not _runs(stand_in, slow.id)


def test_a_short_budget_claims_no_job_that_would_outlast_it(stand_in):
    stand_in.budget = 30
    fn = Function(where, name="budget", timeout=60, compute_target="lambda")
    fn.save()
    job = fn(1)
    # Invocations come (the launch, then the reconciler's) and leave without claiming:
    # 60 s plus the margin does not fit in 30 s.
    wait_until(lambda: any(r.process.poll() is not None for r in _runs(stand_in, fn.id)),
               DEADLINE)
    job.refresh()
    assert (job.status, job.execution_count or 0) == (JobStatus.PENDING, 0)
    # A job that fits in the budget is claimed by the same kind of invocation.
    short = Function(where, name="short", timeout=5, compute_target="lambda")
    short.save()
    done = short(2)
    done.wait_for_completion(timeout=DEADLINE, interval=0.2)
    assert done.status == JobStatus.SUCCESS
    # With Lambda's full 900 s, the next invocation runs the long one.
    stand_in.budget = None
    job.wait_for_completion(timeout=DEADLINE, interval=0.2)
    assert job.status == JobStatus.SUCCESS and job.execution_count == 1


def test_timeout_cancel_and_logs_on_lambda(stand_in, tmp_path):
    talk = Function(chatty, name="talk", timeout=60)
    talk.save()
    job = talk(7)
    job.wait_for_completion(timeout=DEADLINE, interval=0.2)
    assert job.status == JobStatus.SUCCESS
    assert "hello 7 from a job" in job.log()

    nap = Function(sleeper, name="nap", timeout=2)
    nap.save()
    late = nap(60)
    long = Function(gated, name="gate", timeout=300)
    long.save()
    gate = str(tmp_path / "gate")
    held = long(gate)
    late.wait_for_completion(timeout=DEADLINE, interval=0.2)
    assert late.status == JobStatus.TIMEOUT
    assert "ran past its timeout of 2 seconds" in late.log()
    wait_until(lambda: os.path.exists(gate + ".started"), DEADLINE)
    held.cancel()
    held.wait_for_completion(timeout=DEADLINE, interval=0.2)
    assert held.status == JobStatus.CANCELED
    assert _runs(stand_in, nap.id) and _runs(stand_in, long.id)


def test_a_lost_invocation_is_requeued_and_run_again(stand_in, namespace, tmp_path):
    fn = Function(gated, name="lost", timeout=300)
    fn.save()
    gate = str(tmp_path / "gate")
    job = fn(gate)
    wait_until(lambda: os.path.exists(gate + ".started"), DEADLINE)
    worker = namespace.backend.store.get_job(job.id)["worker_id"]
    assert worker.startswith("lambda-")
    Path(gate + ".started").unlink()
    assert stand_in.kill(worker)
    # Its lease expires; the reconciler requeues the job and invokes a new worker.
    wait_until(lambda: os.path.exists(gate + ".started"), DEADLINE)
    assert namespace.backend.store.get_job(job.id)["worker_id"] != worker
    Path(gate).write_text("go")
    job.wait_for_completion(timeout=DEADLINE, interval=0.2)
    assert job.status == JobStatus.SUCCESS and job.result() == "released"
    assert job.execution_count == 2
