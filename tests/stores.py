"""The AWS adapters on a fake AWS: one moto server per test session with one
deployment's data resources, a local backend of its own beside it, and records built as
the SDK stores them. The port suites (tests/conformance/ports) and the AWS-only tests
(tests/aws) share them."""

from __future__ import annotations

import uuid

import pytest

from skyrun.backends.aws.backend import AwsBackend
from skyrun.backends.aws.motoserver import serialized_moto_server
from skyrun.backends.aws.provision import create_data_resources
from skyrun.backends.local import LocalBackend
from skyrun.common.timeutil import now

DEPLOYMENT = "skytest"
#: The identity moto's STS reports for any credentials.
MOTO_ACCOUNT = "123456789012"
MOTO_USER = "moto"


@pytest.fixture(scope="session")
def moto():
    """A fake AWS for the whole session; AWS_* variables point every client at it."""
    server = serialized_moto_server()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", server.endpoint)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "SKYRUN_STACK"):
            mp.delenv(name, raising=False)
        yield server
    server.stop()


@pytest.fixture(scope="session")
def aws_outputs(moto) -> dict[str, str]:
    """The data stack outputs of the test deployment (created once)."""
    return create_data_resources(DEPLOYMENT)


@pytest.fixture(scope="session")
def aws_backend(aws_outputs) -> AwsBackend:
    """The AWS backend on moto."""
    return AwsBackend(aws_outputs, DEPLOYMENT)


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory) -> LocalBackend:
    """A local backend of its own (not the session SKYRUN_HOME's)."""
    return LocalBackend(tmp_path_factory.mktemp("local-conformance"))


def new_namespace() -> str:
    """A namespace no other test uses."""
    return f"test:u{uuid.uuid4().hex[:10]}"


def function_record(namespace: str | None = None, **changes) -> dict:
    """A Function record as ``Function.save()`` stores it."""
    t = now()
    record = {
        "id": uuid.uuid4().hex[:16], "namespace": namespace or new_namespace(),
        "owner": "user:test", "name": "fn", "image": "python3.11:latest", "cpus": 0.25,
        "memory": 512, "maximum_concurrency": 5, "timeout": 60, "retry_count": 0,
        "enabled": True, "auto_start": True, "environment": {"A": "1"}, "status": "ready",
        "creation_date": t, "modified_date": t, "env_hash": "abc123", "python": "3.11",
        "requirements": ["requests>=2"], "entrypoint": "mod:fn", "compute_target": "auto",
    }
    record.update(changes)
    return record


def job_records(function: dict, n: int, reference_id: str | None = None,
                t: float | None = None) -> tuple[str, list[dict]]:
    """A ``map()`` batch of ``n`` pending jobs, as ``Function.map()`` builds it."""
    reference_id = reference_id or uuid.uuid4().hex
    t = now() if t is None else t
    return reference_id, [{
        "id": f"{reference_id}-{i}", "function_id": function["id"],
        "namespace": function["namespace"], "reference_id": reference_id,
        "status": "pending", "args": [i], "kwargs": {"k": i}, "environment": None,
        "tags": ["batch"], "creation_date": t, "execution_count": 0, "queued_date": t,
    } for i in range(n)]


def stored_batch(store, n: int, **function_changes) -> tuple[dict, list[dict]]:
    """A Function record (with ``function_changes``) and a ``map()`` batch of ``n``
    pending jobs of it, stored in ``store``; the Function and the job records."""
    function = function_record(**function_changes)
    store.create_function(function)
    reference_id, records = job_records(function, n)
    store.insert_jobs(reference_id, records)
    return function, records
