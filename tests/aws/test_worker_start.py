"""How a worker on AWS starts. It opens its backend without asking AWS who it is (a
Batch task or a Lambda invocation: its jobs' namespace is in their records, and an STS
request would only add a client and a round trip), and a Batch worker starts its
executor as its own interpreter starts, not after its first claim."""

from __future__ import annotations

import sys

import pytest

from skyrun.backends.aws import identity
from skyrun.backends.aws import resources as r
from skyrun.compute import Function, JobStatus
from skyrun_runtime import lambda_handler, worker
from tests.conftest import selected_backends


@pytest.fixture
def worker_environment(aws_outputs, monkeypatch, tmp_path):
    """The variables a worker of the test deployment gets, and no identity of its own;
    asking for the caller's identity fails the test."""
    # The Lambda handler sets a default work directory in os.environ: the test's own,
    # restored afterwards, so that later tests' workers do not inherit it.
    monkeypatch.setenv("SKYRUN_WORK_DIR", str(tmp_path / "work"))
    for key in r.OUTPUTS:
        monkeypatch.setenv(r.environment_variable(key), aws_outputs.get(key, f"unused-{key}"))
    monkeypatch.setenv("SKYRUN_BACKEND", "aws")
    monkeypatch.delenv("SKYRUN_ORG", raising=False)
    monkeypatch.delenv("SKYRUN_USER", raising=False)

    def no_identity():
        raise AssertionError("the worker asked STS who it is")

    monkeypatch.setattr(identity, "cached_caller_identity", no_identity)


def test_a_batch_worker_starts_without_an_identity_request(worker_environment):
    # A Function that does not exist: the worker opens its backend, reads the record
    # (none) and leaves.
    assert worker.main(["--function", "no-such-function", "--worker-id", "w-test"]) == 0


class _Context:
    aws_request_id = "request-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_lambda_worker_starts_without_an_identity_request(worker_environment):
    reply = lambda_handler.handler({"function_id": "no-such-function"}, _Context())
    assert reply["function_id"] == "no-such-function"


def test_a_batch_worker_starts_its_executor_before_anything_else(monkeypatch, tmp_path):
    # What a Batch worker's environment holds: its Function, the Function's cpus (from
    # the launch) and where bundles go; the executor is the image's Python.
    from skyrun_runtime.supervisor import bundle_path, executor_env, prestart

    monkeypatch.setenv("SKYRUN_FUNCTION_ID", "fn-1")
    monkeypatch.setenv("SKYRUN_EXECUTOR_CPUS", "0.5")
    monkeypatch.setenv("SKYRUN_WORK_DIR", str(tmp_path))
    monkeypatch.delenv("SKYRUN_EXECUTOR_PYTHON", raising=False)
    executor = prestart([])
    assert executor is not None
    try:
        assert executor.alive()
        # The worker keeps it for its first job when the Function still asks for this.
        assert executor.spec == (sys.executable, bundle_path("fn-1"), 0.5, executor_env())
    finally:
        executor.kill()
    monkeypatch.setenv("SKYRUN_EXECUTOR_PYTHON", "/opt/other/python")
    monkeypatch.delenv("SKYRUN_EXECUTOR_CPUS")
    assert prestart([]) is None  # no cpus given: started at the first job instead


def started_at():
    """When this process started, to about 10 ms (psutil's create_time counts from a boot
    time in whole seconds)."""
    import os
    import time

    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


@pytest.mark.skipif("aws" not in selected_backends(),
                    reason="SKYRUN_TEST_BACKENDS leaves out the aws backend")
@pytest.mark.parametrize("skyrun_backend", ["aws"])
def test_the_first_job_of_a_batch_worker_runs_in_an_executor_started_before_its_claim(
        skyrun_backend):
    fn = Function(started_at, maximum_concurrency=1, timeout=3600)  # Batch, not Lambda
    fn.save()
    job = fn()
    job.wait_for_completion(timeout=120, interval=0.1)
    assert job.status == JobStatus.SUCCESS
    # The claim stamps last_execution_date; an executor started at the first job would
    # be younger than its claim.
    assert job.result() < job.last_execution_date.timestamp()
