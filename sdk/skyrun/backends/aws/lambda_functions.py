"""The job Lambda functions: one per environment hash, running the Function image.

A Function whose image build succeeds gets (or updates) the Lambda function of its
environment, named ``{LambdaFunctionPrefix}{env_hash}`` and shared by every Function of
that environment, like the image. It runs the image with the Lambda runtime interface
client as its entry point and ``skyrun_runtime.lambda_handler.handler`` as its command
(the image's own command, the Batch worker's, is unchanged), with Lambda's longest
timeout (the worker keeps each job inside it), the job Lambda role (the job role's
rights), memory enough for the largest Function using it
(``skyrun.domain.targets.lambda_memory``), ephemeral storage (``/tmp``) sized for the
unpacked bundle, and its own log group with a retention. Deleting the last Function of
an environment removes the Lambda function and its log group.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from skyrun.backends.aws import resources as r
from skyrun.domain import targets
from skyrun.domain.targets import LAMBDA_MAX_TIMEOUT

if TYPE_CHECKING:
    from skyrun.backends.aws.backend import AwsBackend

logger = logging.getLogger(__name__)

#: The image's handler for Lambda, which the runtime interface client calls; the image's
#: own command (the Batch worker's) stays as it is.
HANDLER = "skyrun_runtime.lambda_handler.handler"
ENTRY_POINT = ["python", "-m", "awslambdaric"]
#: Lambda's file system is read-only but for /tmp: what a job's libraries cache goes there.
LAMBDA_HOME = "/tmp"
#: Lambda's ``/tmp`` size range, in MB.
MIN_STORAGE_MB, MAX_STORAGE_MB = 512, 10_240
#: Room on ``/tmp`` besides the unpacked bundle: what jobs write there.
STORAGE_HEADROOM_MB = 512
#: How long a job Lambda function's own output is kept.
LOG_RETENTION_DAYS = 30
_MB = 2**20


def enabled(backend: AwsBackend) -> bool:
    """Whether the deployment runs Functions that fit Lambda there (``skyrun:lambda``)."""
    return backend.outputs.get(r.LAMBDA_TARGET, "false") == "true"


def function_name(backend: AwsBackend, env_hash: str) -> str:
    """The Lambda function of an environment."""
    return backend.outputs[r.LAMBDA_FUNCTION_PREFIX] + env_hash


def storage_mb(bundle: bytes | None) -> int:
    """Ephemeral storage for a bundle: its unpacked size (code and ``include_data``)
    plus headroom, within Lambda's 512 MB to 10,240 MB."""
    unpacked = 0
    if bundle:
        with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    wanted = math.ceil(unpacked / _MB) + STORAGE_HEADROOM_MB
    return max(MIN_STORAGE_MB, min(MAX_STORAGE_MB, wanted))


def ensure(backend: AwsBackend, function: dict[str, Any], env_hash: str, image: str,
           bundle: bytes | None) -> str:
    """Create the environment's Lambda function, or update its image and grow its memory
    and storage to what ``function`` needs; returns its name."""
    client = backend.client("lambda")
    name = function_name(backend, env_hash)
    memory = min(targets.lambda_memory(function["cpus"], function["memory"]),
                 targets.LAMBDA_MAX_MEMORY)
    storage = storage_mb(bundle)
    try:
        current = client.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        current = None
    if current is None:
        _ensure_log_group(backend, name)
        environment = dict(backend.job_environment(), HOME=LAMBDA_HOME)
        client.create_function(
            FunctionName=name, PackageType="Image", Code={"ImageUri": image},
            Role=backend.outputs[r.LAMBDA_ROLE_ARN],
            ImageConfig={"EntryPoint": ENTRY_POINT, "Command": [HANDLER]},
            Timeout=LAMBDA_MAX_TIMEOUT, MemorySize=memory,
            EphemeralStorage={"Size": storage},
            Environment={"Variables": environment},
            Description=f"skyrun jobs of environment {env_hash}",
            Tags={"skyrun:environment": env_hash})
        return name
    # Shared by Functions of one environment: the largest size any of them asked for.
    memory = max(memory, int(current.get("MemorySize") or 0))
    storage = max(storage, int((current.get("EphemeralStorage") or {}).get("Size") or 0))
    if (memory, storage) != (current.get("MemorySize"),
                             (current.get("EphemeralStorage") or {}).get("Size")):
        client.update_function_configuration(FunctionName=name, MemorySize=memory,
                                             EphemeralStorage={"Size": storage})
    code = client.get_function(FunctionName=name).get("Code") or {}
    if code.get("ImageUri") != image:
        client.update_function_code(FunctionName=name, ImageUri=image)
    return name


def _ensure_log_group(backend: AwsBackend, name: str) -> None:
    logs = backend.client("logs")
    group = r.lambda_log_group_name(name)
    try:
        logs.create_log_group(logGroupName=group)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    logs.put_retention_policy(logGroupName=group, retentionInDays=LOG_RETENTION_DAYS)


def others_using(backend: AwsBackend, env_hash: str, function_id: str) -> bool:
    """Whether a Function other than ``function_id`` uses the environment."""
    page = backend.client("dynamodb").query(
        TableName=backend.outputs[r.FUNCTIONS_TABLE_NAME], IndexName=r.FUNCTIONS_BY_ENVIRONMENT,
        KeyConditionExpression="environment_hash = :h",
        ExpressionAttributeValues={":h": {"S": env_hash}}, Limit=2)
    return any(item["id"]["S"] != function_id for item in page.get("Items", []))


def remove_if_unused(backend: AwsBackend, function: dict[str, Any]) -> bool:
    """Delete the Lambda function (and its log group) of a deleted Function's
    environment when no other Function uses it; whether it was removed."""
    env_hash = function.get("env_hash")
    if not env_hash or others_using(backend, env_hash, function["id"]):
        return False
    name = function_name(backend, env_hash)
    try:
        backend.client("lambda").delete_function(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    try:
        backend.client("logs").delete_log_group(logGroupName=r.lambda_log_group_name(name))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return True
