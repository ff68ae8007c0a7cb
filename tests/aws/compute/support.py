"""Shared by the tests of the AWS backend's compute half: one sandbox of moto with the
deployment provisioned from the CDK templates (its stand-ins off, so that the tests drive
CodeBuild and Batch events themselves), and a backend of the aws kind whose records are
the local backend's while every AWS service is moto's."""

from __future__ import annotations

import time
import uuid

from skyrun.backends.aws import resources as r
from skyrun.backends.aws.builder import CodeBuildBuilder
from skyrun.backends.aws.launcher import BatchLauncher
from skyrun.backends.local import LocalBackend
from skyrun.compute.operations import new_job_record
from skyrun.compute.statuses import FunctionStatus
from skyrun.sandbox import Sandbox


class StandInBackend:
    """The AwsBackend contract (outputs, client, stores, builder, launcher,
    job_environment) with the local stores for records, blobs and logs."""

    name = "aws"

    def __init__(self, sandbox: Sandbox, home):
        local = LocalBackend(home)
        self.sandbox = sandbox
        self.outputs = sandbox.outputs
        self.deployment = sandbox.deployment
        self.store, self.blobs, self.logs = local.store, local.blobs, local.logs
        self._clients: dict = {}
        self.builder = CodeBuildBuilder(self)
        self.launcher = BatchLauncher(self)

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.sandbox.client(service)
        return self._clients[service]

    def job_environment(self) -> dict[str, str]:
        env = {"SKYRUN_BACKEND": "aws", r.DEPLOYMENT_VARIABLE: self.deployment}
        env.update({r.environment_variable(k): v for k, v in self.outputs.items()})
        return env


def make_function(backend, status=FunctionStatus.BUILDING.value, **settings) -> dict:
    """Store a Function record as ``Function.save()`` leaves it before its build."""
    t = time.time()
    record = {"id": uuid.uuid4().hex, "namespace": "test:compute", "owner": "compute",
              "name": "f", "image": "python3.11:latest", "cpus": 1.0, "memory": 2048,
              "maximum_concurrency": 10, "timeout": 3600, "retry_count": 0,
              "enabled": True, "auto_start": True, "environment": {}, "status": status,
              "creation_date": t, "modified_date": t, "python": "3.11",
              "requirements": [], "entrypoint": "callable"}
    record.update(settings)
    backend.store.create_function(record)
    return backend.store.get_function(record["id"])


def add_jobs(backend, function: dict, count: int) -> list[dict]:
    """Store ``count`` pending jobs of the Function."""
    t = time.time()
    ref = uuid.uuid4().hex
    records = [new_job_record(uuid.uuid4().hex, function, ref, t, "[]", "{}", {}, [])
               for _ in range(count)]
    return backend.store.insert_jobs(ref, records)


def submitted(backend, function_id: str) -> list[dict]:
    """The Batch jobs (not array children) submitted for a Function, described."""
    batch = backend.client("batch")
    ids = [s["jobId"] for s in batch.list_jobs(
        jobQueue=backend.outputs[r.JOB_QUEUE_ARN],
        filters=[{"name": "JOB_NAME", "values": [f"skyrun-{function_id}"]}])["jobSummaryList"]
        if ":" not in s["jobId"]]
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def ready_function(backend, **settings) -> dict:
    """A ready Function with its job definition, as a finished build leaves it."""
    from skyrun.backends.aws import jobdefs

    function = make_function(backend, **settings)
    jobdefs.register(backend, function, jobdefs.image_uri(backend, "env-test"))
    return backend.store.update_function(function["id"], {"status": "ready"})
