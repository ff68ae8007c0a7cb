"""The job Lambda functions on moto: made by a build's completion (one per environment,
sized for the largest Function and its bundle, with its log group), removed with the
last Function of the environment; and the Lambda launcher's invocations."""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from skyrun.backends.aws import jobdefs, lambda_functions
from skyrun.backends.aws import resources as r
from skyrun.backends.aws.builder import complete
from skyrun.backends.aws.lambda_launcher import LambdaLauncher
from skyrun.backends.aws.store import DynamoStore
from skyrun.domain.keys import bundle_key
from skyrun.engine import lifecycle
from tests.aws.compute.support import make_function, submitted

REPO = Path(__file__).resolve().parents[3]


def _bundle(data_bytes: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__skyrun_entrypoint__.json", "{}")
        zf.writestr("data/big.bin", b"\0" * data_bytes)  # compresses to little
    return out.getvalue()


@pytest.fixture
def dynamo(backend):
    """The stand-in backend with its Function records in the deployment's DynamoDB, as
    the Lambda functions' removal looks there for other Functions of an environment."""
    o = backend.outputs
    backend.store = DynamoStore(backend.client("dynamodb"), o[r.FUNCTIONS_TABLE_NAME],
                                o[r.JOBS_TABLE_NAME], o[r.BATCHES_TABLE_NAME],
                                o[r.LEASES_TABLE_NAME])
    return backend


def _built(backend, env_hash: str, data_bytes: int = 0, **settings) -> dict:
    function = make_function(backend, **settings)
    backend.blobs.put_object(bundle_key(function["id"]), _bundle(data_bytes))
    record = complete(backend, function, env_hash, True, "")
    assert record["status"] == "ready" and record["env_hash"] == env_hash
    return record


def test_a_build_makes_the_environments_lambda_function_and_the_last_delete_removes_it(dynamo):
    backend = dynamo
    env_hash = "a" * 24
    first = _built(backend, env_hash, data_bytes=3 * 2**20, cpus=0.5, memory=1024)
    name = backend.outputs[r.LAMBDA_FUNCTION_PREFIX] + env_hash
    client = backend.client("lambda")
    config = client.get_function_configuration(FunctionName=name)
    assert config["PackageType"] == "Image"
    assert config["Role"] == backend.outputs[r.LAMBDA_ROLE_ARN]
    assert config["Timeout"] == 900
    # 0.5 vCPU needs 885 MB on Lambda (one vCPU per 1,769 MB): the 1,024 MB asked for
    # is the larger.
    assert config["MemorySize"] == 1024
    # Headroom plus the unpacked bundle (3 MB of data and a few bytes), rounded up.
    assert config["EphemeralStorage"]["Size"] == 512 + 4
    assert config["ImageConfigResponse"]["ImageConfig"] == {
        "EntryPoint": ["python", "-m", "awslambdaric"],
        "Command": ["skyrun_runtime.lambda_handler.handler"]}
    variables = config["Environment"]["Variables"]
    assert variables["SKYRUN_BACKEND"] == "aws" and variables["HOME"] == "/tmp"
    assert variables[r.environment_variable(r.JOBS_TABLE_NAME)] == \
        backend.outputs[r.JOBS_TABLE_NAME]
    code = client.get_function(FunctionName=name)["Code"]
    assert code["ImageUri"] == f"{backend.outputs[r.REPOSITORY_URI]}:env-{env_hash}"
    [group] = backend.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert group["retentionInDays"] == 30
    log = backend.blobs.get_data(lifecycle.build_log_blob_id(first["namespace"], first["id"]))
    assert f"Lambda function: {name}" in gzip.decompress(log).decode()

    # A second Function of the environment needs 4 vCPUs: 7,076 MB; the function grows.
    second = _built(backend, env_hash, cpus=4.0, memory=8192)
    assert client.get_function_configuration(FunctionName=name)["MemorySize"] == 8192
    # A smaller third one shrinks nothing.
    third = _built(backend, env_hash, cpus=0.25, memory=512)
    assert client.get_function_configuration(FunctionName=name)["MemorySize"] == 8192

    for record in (first, second):
        backend.builder.remove(record)
        backend.store.delete_function(record["id"])
        assert client.get_function_configuration(FunctionName=name)["FunctionName"] == name
    backend.builder.remove(third)
    backend.store.delete_function(third["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_configuration(FunctionName=name)
    assert backend.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"] == []


def test_storage_is_sized_for_the_unpacked_bundle():
    assert lambda_functions.storage_mb(None) == 512
    assert lambda_functions.storage_mb(_bundle(10 * 2**20 - 100)) == 512 + 10
    assert lambda_functions.storage_mb(_bundle(10 * 2**20)) == 512 + 11  # rounded up


def test_launch_invokes_the_environments_function_once_per_worker(dynamo, quiet_sandbox):
    backend = dynamo
    backend.launcher = LambdaLauncher(backend)
    function = _built(backend, "b" * 24, timeout=60)
    before = len(quiet_sandbox.server.lambda_invocations())
    backend.launcher.launch(function, 3)
    invocations = quiet_sandbox.server.lambda_invocations(before)
    name = backend.outputs[r.LAMBDA_FUNCTION_PREFIX] + "b" * 24
    assert [i["function"] for i in invocations] == [name] * 3
    events = [json.loads(i["payload"]) for i in invocations]
    assert {e["function_id"] for e in events} == {function["id"]}
    workers = {e["worker_id"] for e in events}
    assert len(workers) == 3 and all(re.fullmatch(r"lambda-[0-9a-f]+:[0-2]", w) for w in workers)
    # Not registered yet, they count as live; nothing went to Batch.
    assert backend.launcher.live_workers(function["id"]) == workers
    assert submitted(backend, function["id"]) == []
    # A registered worker that leaves is no longer live; the Function's deletion forgets
    # the rest.
    one = sorted(workers)[0]
    backend.launcher.register(one, function["id"])
    backend.launcher.unregister(one)
    assert backend.launcher.live_workers(function["id"]) == workers - {one}
    backend.launcher.kill_workers(function["id"])
    assert backend.launcher.live_workers(function["id"]) == set()

    # Resized after its build past the Lambda function's memory: the launch grows it.
    client = backend.client("lambda")
    assert client.get_function_configuration(FunctionName=name)["MemorySize"] == 2048
    bigger = backend.store.update_function(function["id"], {"cpus": 2.0, "memory": 8192})
    backend.launcher.launch(bigger, 1)
    assert client.get_function_configuration(FunctionName=name)["MemorySize"] == 8192
    assert len(quiet_sandbox.server.lambda_invocations(before)) == 4


def test_a_function_past_lambdas_limits_or_without_its_lambda_function_goes_to_batch(
        dynamo, quiet_sandbox):
    backend = dynamo
    backend.launcher = LambdaLauncher(backend)
    slow = _built(backend, "c" * 24)  # timeout 3,600 s
    before = len(quiet_sandbox.server.lambda_invocations())
    backend.launcher.launch(slow, 2)
    assert quiet_sandbox.server.lambda_invocations(before) == []
    [job] = submitted(backend, slow["id"])
    assert job["arrayProperties"]["size"] == 2
    # A Function that fits, but whose environment has no Lambda function (removed, or
    # made before the target existed): Batch, for every worker asked for.
    orphan = make_function(backend, timeout=60, status="ready", env_hash="d" * 24)
    jobdefs.register(backend, orphan, jobdefs.image_uri(backend, "env-" + "d" * 24))
    backend.launcher.launch(orphan, 2)
    assert quiet_sandbox.server.lambda_invocations(before) == []
    [job] = submitted(backend, orphan["id"])
    assert job["arrayProperties"]["size"] == 2
    assert len(backend.launcher.live_workers(orphan["id"])) == 2


def test_the_image_serves_batch_and_lambda():
    dockerfile = (REPO / "runtime" / "Dockerfile").read_text()
    assert re.search(r"pip install .*awslambdaric", dockerfile)
    assert not re.search(r"^ENTRYPOINT", dockerfile, re.M)  # Batch's command stays whole
    assert json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)) == \
        jobdefs.WORKER_COMMAND
    module, _, name = lambda_functions.HANDLER.rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[name]), name))
