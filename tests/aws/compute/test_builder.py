"""CodeBuildBuilder on moto: image reuse, StartBuild, the build-finished event, the job
definition and the build log."""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path

from skyrun.backends.aws import jobdefs
from skyrun.backends.aws import resources as r
from skyrun.backends.aws.builder import finish_from_event
from skyrun.compute.statuses import FunctionStatus
from skyrun.engine import lifecycle
from tests.aws.compute.support import make_function

REPO = Path(__file__).resolve().parents[3]


def _build_variables(backend, build_id: str) -> dict[str, str]:
    build = backend.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    return {v["name"]: v["value"] for v in build["environment"]["environmentVariables"]}


def _event(backend, build_id: str, status: str, variables: dict[str, str]) -> dict:
    build = backend.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    return {"source": "aws.codebuild", "detail-type": "CodeBuild Build State Change",
            "detail": {"build-status": status, "project-name": build["projectName"],
                       "build-id": build["arn"],
                       "additional-information": {
                           "environment": {"environment-variables": [
                               {"name": k, "value": v, "type": "PLAINTEXT"}
                               for k, v in variables.items()]},
                           "logs": {"group-name": build["logs"]["groupName"],
                                    "stream-name": build["logs"]["streamName"]}}}}


def _write_build_log(backend, build_id: str, lines: list[str]) -> None:
    build = backend.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    logs = backend.client("logs")
    group, stream = build["logs"]["groupName"], build["logs"]["streamName"]
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000) + i, "message": line}
                                   for i, line in enumerate(lines)])


def _build_id(backend, function_id: str) -> str:
    return backend.builder._get_build(function_id)["build_id"]


def _build_log(backend, function: dict) -> str:
    blob = lifecycle.build_log_blob_id(function["namespace"], function["id"])
    return gzip.decompress(backend.blobs.get_data(blob)).decode()


def test_check_accepts_the_deployed_pythons_only(backend):
    assert backend.builder.check("python3.11:latest", []) == {}
    assert backend.builder.check("python3.13", ["numpy"]) == {}
    errors = backend.builder.check("python3.9:latest", [])
    assert "python3.9:latest has no base image" in errors["image"][0]
    assert "python3.10:latest" in errors["image"][0]


def test_start_uploads_requirements_and_starts_a_function_build(backend):
    function = make_function(backend)
    backend.builder.start(function, ["requests==2.31.0", "  # comment", "six"])
    build_id = _build_id(backend, function["id"])
    variables = _build_variables(backend, build_id)
    env_hash = backend.builder.environment_hash(function, ["requests==2.31.0", "six"])
    assert variables[r.BUILD_KIND] == r.BUILD_KIND_FUNCTION
    assert variables[r.BUILD_PYTHON_VERSION] == "3.11"
    assert variables[r.BUILD_IMAGE_TAG] == r.function_image_tag(env_hash)
    assert variables[r.BUILD_FUNCTION_ID] == function["id"]
    bucket = backend.outputs[r.BUCKET_NAME]
    key = f"{r.BUILDS_PREFIX}{env_hash}/requirements.txt"
    assert variables[r.BUILD_REQUIREMENTS_URI] == f"s3://{bucket}/{key}"
    body = backend.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert body == "requests==2.31.0\nsix\n"
    # The project's own variables are still there, overridden where the build says so.
    assert variables["REPOSITORY_URI"] == backend.outputs[r.REPOSITORY_URI]
    assert backend.store.get_function(function["id"])["status"] == "building"


def test_no_requirements_means_no_upload(backend):
    function = make_function(backend)
    backend.builder.start(function, [])
    variables = _build_variables(backend, _build_id(backend, function["id"]))
    assert variables[r.BUILD_REQUIREMENTS_URI] == ""


def test_live_log_reads_the_build_stream(backend):
    function = make_function(backend)
    assert backend.builder.live_log(function) == ""
    backend.builder.start(function, [])
    build_id = _build_id(backend, function["id"])
    live = backend.builder.live_log(function)
    assert live.startswith(f"Build of Function {function['name']} ({function['id']})\n")
    assert live.endswith(f"CodeBuild: {build_id.split('/')[-1]}\n")
    _write_build_log(backend, build_id, ["Step 1/4", "Installing"])
    assert backend.builder.live_log(function) == live + "Step 1/4\nInstalling\n"


def test_succeeded_build_makes_the_function_ready_with_its_job_definition(backend):
    function = make_function(backend, cpus=0.5, memory=4096)
    backend.builder.start(function, ["six"])
    build_id = _build_id(backend, function["id"])
    _write_build_log(backend, build_id, ["pip install six", "Successfully installed six"])
    variables = _build_variables(backend, build_id)
    record = finish_from_event(backend, _event(backend, build_id, "SUCCEEDED", variables))
    assert record["status"] == FunctionStatus.READY.value
    env_hash = backend.builder.environment_hash(function, ["six"])
    assert record["env_hash"] == env_hash
    log = _build_log(backend, record)
    assert "Successfully installed six" in log and "Build succeeded." in log

    name = backend.outputs[r.JOB_DEFINITION_PREFIX] + function["id"]
    [definition] = backend.client("batch").describe_job_definitions(
        jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
    container = definition["containerProperties"]
    assert definition["platformCapabilities"] == ["FARGATE"]
    assert container["image"] == f"{backend.outputs[r.REPOSITORY_URI]}:env-{env_hash}"
    assert container["command"] == ["python", "-m", "skyrun_runtime.worker"]
    assert {x["type"]: x["value"] for x in container["resourceRequirements"]} == \
        {"VCPU": "0.5", "MEMORY": "4096"}
    assert container["jobRoleArn"] == backend.outputs[r.JOB_ROLE_ARN]
    assert container["executionRoleArn"] == backend.outputs[r.EXECUTION_ROLE_ARN]
    env = {x["name"]: x["value"] for x in container["environment"]}
    assert env["SKYRUN_FUNCTION_ID"] == function["id"]
    assert env["SKYRUN_BACKEND"] == "aws"
    assert env[r.environment_variable(r.JOBS_TABLE_NAME)] == backend.outputs[r.JOBS_TABLE_NAME]
    retry = definition["retryStrategy"]
    assert retry["attempts"] >= 2
    # Only infrastructure failures are retried; anything else exits.
    # (Batch treats actions case-insensitively; moto lowercases them.)
    rules = retry["evaluateOnExit"]
    assert rules[-1]["onReason"] == "*" and rules[-1]["action"].upper() == "EXIT"
    assert all(rule["action"].upper() == "RETRY" for rule in rules[:-1])
    assert any(rule.get("onStatusReason", "").startswith("Host EC2") for rule in rules)


def test_auto_start_false_ends_stopped(backend):
    function = make_function(backend, auto_start=False)
    backend.builder.start(function, ["six"])
    build_id = _build_id(backend, function["id"])
    record = finish_from_event(backend, _event(backend, build_id, "SUCCEEDED",
                                               _build_variables(backend, build_id)))
    assert record["status"] == FunctionStatus.STOPPED.value


def test_failed_build_fails_the_function_and_keeps_the_log(backend):
    function = make_function(backend)
    backend.builder.start(function, ["no-such-package-xyz"])
    build_id = _build_id(backend, function["id"])
    _write_build_log(backend, build_id, ["ERROR: No matching distribution found"])
    record = finish_from_event(backend, _event(backend, build_id, "FAILED",
                                               _build_variables(backend, build_id)))
    assert record["status"] == FunctionStatus.BUILD_FAILED.value
    log = _build_log(backend, record)
    assert "No matching distribution found" in log and "status FAILED" in log
    name = backend.outputs[r.JOB_DEFINITION_PREFIX] + function["id"]
    assert backend.client("batch").describe_job_definitions(
        jobDefinitionName=name, status="ACTIVE")["jobDefinitions"] == []


def test_a_repeated_or_foreign_event_changes_nothing(backend):
    function = make_function(backend)
    backend.builder.start(function, [])
    build_id = _build_id(backend, function["id"])
    variables = _build_variables(backend, build_id)
    assert finish_from_event(backend, _event(backend, build_id, "SUCCEEDED", variables))
    assert finish_from_event(backend, _event(backend, build_id, "FAILED", variables)) is None
    assert backend.store.get_function(function["id"])["status"] == "ready"
    base = dict(variables, **{r.BUILD_KIND: r.BUILD_KIND_BASE})
    assert finish_from_event(backend, _event(backend, build_id, "SUCCEEDED", base)) is None


def test_an_existing_image_is_reused_at_once(backend):
    function = make_function(backend)
    env_hash = backend.builder.environment_hash(function, ["attrs"])
    backend.client("ecr").put_image(
        repositoryName=backend.outputs[r.REPOSITORY_NAME], imageTag=f"env-{env_hash}",
        imageManifest=json.dumps({"schemaVersion": 2, "layers": [], "mediaType":
                                  "application/vnd.oci.image.manifest.v1+json"}))
    backend.builder.start(function, ["attrs"])
    record = backend.store.get_function(function["id"])
    assert record["status"] == "ready" and record["env_hash"] == env_hash
    assert backend.builder._get_build(function["id"]) is None  # no build started
    assert "Reusing the existing image" in _build_log(backend, record)
    name = backend.outputs[r.JOB_DEFINITION_PREFIX] + function["id"]
    assert len(backend.client("batch").describe_job_definitions(
        jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]) == 1


def test_remove_deregisters_the_job_definition(backend):
    function = make_function(backend)
    backend.builder.start(function, [])
    build_id = _build_id(backend, function["id"])
    finish_from_event(backend, _event(backend, build_id, "SUCCEEDED",
                                      _build_variables(backend, build_id)))
    backend.builder.remove(backend.store.get_function(function["id"]))
    name = backend.outputs[r.JOB_DEFINITION_PREFIX] + function["id"]
    assert backend.client("batch").describe_job_definitions(
        jobDefinitionName=name, status="ACTIVE")["jobDefinitions"] == []
    assert backend.builder.live_log(function) == ""


def test_the_environment_hash_follows_python_and_requirements(backend):
    a = make_function(backend)
    b = make_function(backend, python="3.12", image="python3.12:latest")
    h = backend.builder.environment_hash
    assert h(a, ["six", "attrs"]) == h(a, [" six ", "attrs", "# x"])
    assert h(a, ["six"]) != h(b, ["six"])
    assert h(a, ["six"]) != h(a, ["attrs"])


def test_the_worker_image_runs_the_job_definition_command():
    dockerfile = (REPO / "runtime" / "Dockerfile").read_text()
    assert re.search(r"^FROM .*python:\$\{PYTHON_VERSION\}-slim$", dockerfile, re.M)
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    assert json.loads(cmd) == jobdefs.WORKER_COMMAND
    versions = r.PYTHON_VERSIONS
    assert versions[0] == "3.10" and versions[-1] == "3.13"
