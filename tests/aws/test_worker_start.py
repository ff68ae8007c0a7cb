"""A worker (a Batch task or a Lambda invocation) opens its backend without asking AWS
who it is: its jobs' namespace is in their records, and an STS request would only add a
client and a round trip to its start."""

from __future__ import annotations

import pytest

from skyrun.backends.aws import identity
from skyrun.backends.aws import resources as r
from skyrun_runtime import lambda_handler, worker


@pytest.fixture
def worker_environment(aws_outputs, monkeypatch):
    """The variables a worker of the test deployment gets, and no identity of its own;
    asking for the caller's identity fails the test."""
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
