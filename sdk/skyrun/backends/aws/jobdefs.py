"""The Batch job definition of a Function: its worker image, size, roles and retries.

One job definition per Function, named ``{JobDefinitionPrefix}{function_id}`` (the IAM
policies are scoped to the prefix), registered when its image is ready. Every worker of
the Function is a job (or an array child) of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyrun.backends.aws import resources as r

if TYPE_CHECKING:
    from skyrun.backends.aws.backend import AwsBackend

#: The worker's command; the function id comes from the environment, never arguments.
WORKER_COMMAND = ["python", "-m", "skyrun_runtime.worker"]
FUNCTION_VARIABLE = "SKYRUN_FUNCTION_ID"
#: The Function's cpus for the worker's executor (``skyrun_runtime.supervisor``'s
#: ``EXECUTOR_CPUS_VARIABLE``; the SDK does not import the runtime).
EXECUTOR_CPUS_VARIABLE = "SKYRUN_EXECUTOR_CPUS"

#: Batch retries a worker only when the infrastructure failed it (a reclaimed Spot task,
#: a lost host, a task that could not start); a worker that exits on its own is done,
#: and the jobs it held are requeued by their expired leases whatever happened.
#: ``onStatusReason``/``onReason`` patterns may only end with ``*``.
RETRY_STRATEGY = {
    "attempts": 3,
    "evaluateOnExit": [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onStatusReason": "Your Spot Task was interrupted*", "action": "RETRY"},
        {"onStatusReason": "Task failed to start*", "action": "RETRY"},
        {"onReason": "CannotPullContainerError*", "action": "RETRY"},
        {"onReason": "ResourceInitializationError*", "action": "RETRY"},
        {"onReason": "*", "action": "EXIT"},
    ],
}


def job_definition_name(backend: AwsBackend, function_id: str) -> str:
    """The job definition of a Function in the backend's deployment."""
    return backend.outputs[r.JOB_DEFINITION_PREFIX] + function_id


def resource_requirements(function: dict[str, Any]) -> list[dict[str, str]]:
    """Fargate's VCPU and MEMORY of a Function record (``0.25`` → ``"0.25"``)."""
    return [{"type": "VCPU", "value": f"{float(function['cpus']):g}"},
            {"type": "MEMORY", "value": str(int(function["memory"]))}]


def image_uri(backend: AwsBackend, tag: str) -> str:
    """The URI of an image of the deployment's repository."""
    return f"{backend.outputs[r.REPOSITORY_URI]}:{tag}"


def register(backend: AwsBackend, function: dict[str, Any], image: str) -> str:
    """Register (a new revision of) the Function's job definition; returns its ARN."""
    outputs = backend.outputs
    batch = backend.client("batch")
    environment = dict(backend.job_environment())
    environment[FUNCTION_VARIABLE] = function["id"]
    response = batch.register_job_definition(
        jobDefinitionName=job_definition_name(backend, function["id"]),
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": image,
            "command": WORKER_COMMAND,
            "jobRoleArn": outputs[r.JOB_ROLE_ARN],
            "executionRoleArn": outputs[r.EXECUTION_ROLE_ARN],
            "resourceRequirements": resource_requirements(function),
            "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            "networkConfiguration": {"assignPublicIp": outputs[r.WORKER_ASSIGN_PUBLIC_IP]},
            "fargatePlatformConfiguration": {"platformVersion": "LATEST"},
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": outputs[r.WORKER_LOG_GROUP_NAME],
                "awslogs-region": batch.meta.region_name,
                "awslogs-stream-prefix": "worker"}},
        },
        retryStrategy=RETRY_STRATEGY,
        propagateTags=True,
        tags={"skyrun:function": function["id"], "skyrun:namespace": function["namespace"]},
    )
    arn: str = response["jobDefinitionArn"]
    return arn


def deregister(backend: AwsBackend, function_id: str) -> int:
    """Deregister every active revision of the Function's job definition; how many."""
    batch = backend.client("batch")
    name = job_definition_name(backend, function_id)
    count = 0
    for page in batch.get_paginator("describe_job_definitions").paginate(
            jobDefinitionName=name, status="ACTIVE"):
        for definition in page["jobDefinitions"]:
            batch.deregister_job_definition(jobDefinition=definition["jobDefinitionArn"])
            count += 1
    return count
