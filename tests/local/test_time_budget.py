"""The worker loop under a time budget, as in a Lambda invocation: it claims a job only
if the job's timeout plus a margin fits in the time left, and otherwise leaves."""

from __future__ import annotations

import os
import time

from skyrun.compute import Function, FunctionStatus, Job, JobStatus
from skyrun_runtime import lambda_handler
from tests.conftest import wait_until


def where(x):
    return [x, os.environ.get("AWS_LAMBDA_FUNCTION_NAME")]


class Context:
    """Stands for Lambda's context object: a request id and a deadline."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.aws_request_id = "request-1"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def test_lambda_worker_with_30s_left_does_not_claim_a_job_of_timeout_60(
        namespace, monkeypatch, tmp_path):
    fn = Function(where, timeout=60, auto_start=False)
    fn.save()
    wait_until(lambda: Function.get(fn.id).status == FunctionStatus.STOPPED, 60)
    job = fn(1)
    # Ready without the launcher starting a worker: the invocations below are the only ones.
    namespace.backend.store.update_function(fn.id, {"status": FunctionStatus.READY.value})
    monkeypatch.setenv("SKYRUN_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "skyrun-env-test")

    result = lambda_handler.handler({"function_id": fn.id, "worker_id": "lambda-a:0"},
                                    Context(30))
    # It left at once (an idle wait would have used seconds of the budget) and claimed
    # nothing.
    assert result["worker_id"] == "lambda-a:0" and result["remaining_seconds"] > 25
    job.refresh()
    assert (job.status, job.execution_count or 0) == (JobStatus.PENDING, 0)

    # With two minutes left, the same handler claims the job and runs it, and the job
    # sees the Lambda function's name as it would on Lambda.
    lambda_handler.handler({"function_id": fn.id}, Context(120))
    job = Job.get(job.id)
    assert job.status == JobStatus.SUCCESS
    assert job.result() == [1, "skyrun-env-test"]
