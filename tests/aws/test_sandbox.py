"""The offline sandbox: provisioning from the CDK templates, the stand-ins reacting to
SubmitJob, TerminateJob, StartBuild and the schedule, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from skyrun.backends.aws import resources as r
from skyrun.sandbox import Sandbox
from skyrun.sandbox.server import BATCH_SUBMIT
from tests.conftest import wait_until

# Writes what a Batch container sees to a file named by the job, then waits a while.
_PROBE = ("import json, os, sys, time; "
          "name = os.environ['AWS_BATCH_JOB_ID'].replace(':', '-'); "
          "open(os.path.join(os.environ['PROBE_DIR'], name + '.json'), 'w')"
          ".write(json.dumps(dict(os.environ))); time.sleep(float(sys.argv[1]))")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    home = tmp_path_factory.mktemp("sandbox")
    with Sandbox(home=home, schedule_seconds=0.5) as sb:
        yield sb


def _probe_definition(sb, name: str, seconds: float, probe_dir: Path) -> None:
    sb.client("batch").register_job_definition(
        jobDefinitionName=name, type="container", platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "probe:latest", "command": ["python", "-c", _PROBE, str(seconds)],
            "environment": [{"name": "PROBE_DIR", "value": str(probe_dir)},
                            {"name": "FROM_DEFINITION", "value": "yes"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                     {"type": "MEMORY", "value": "2048"}]})


def test_provisions_the_deployment_from_its_templates(sandbox, tmp_path):
    cloudformation = sandbox.client("cloudformation")
    assert r.load_outputs(cloudformation, sandbox.deployment) == sandbox.outputs
    assert set(sandbox.outputs) == set(r.OUTPUTS)
    dynamodb = sandbox.client("dynamodb")
    for spec in r.TABLES:
        table = dynamodb.describe_table(TableName=sandbox.outputs[spec.output_key])["Table"]
        keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
        assert keys[spec.partition_key.name] == "HASH"
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == \
            {i.name for i in spec.indexes}
    sandbox.client("s3").head_bucket(Bucket=sandbox.outputs[r.BUCKET_NAME])
    groups = {g["logGroupName"] for g in sandbox.client("logs").describe_log_groups()["logGroups"]}
    assert {sandbox.outputs[r.JOB_LOG_GROUP_NAME], sandbox.outputs[r.BUILD_LOG_GROUP_NAME]} <= groups
    queue = sandbox.client("batch").describe_job_queues(
        jobQueues=[sandbox.outputs[r.JOB_QUEUE_ARN]])["jobQueues"][0]
    assert len(queue["computeEnvironmentOrder"]) == 2  # Fargate Spot, then Fargate

    path = sandbox.write_env_file(tmp_path / "sandbox.env")
    lines = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert lines["SKYRUN_BACKEND"] == "aws"
    assert lines["SKYRUN_STACK"] == "skyrun"
    assert lines["AWS_ENDPOINT_URL"] == sandbox.server.endpoint
    assert lines[r.environment_variable(r.JOBS_TABLE_NAME)] == sandbox.outputs[r.JOBS_TABLE_NAME]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(lines)


def test_submitted_array_jobs_run_one_process_per_child(sandbox, tmp_path):
    _probe_definition(sandbox, "probe-array", 0, tmp_path)
    job = sandbox.client("batch").submit_job(
        jobName="probe", jobQueue=sandbox.outputs[r.JOB_QUEUE_ARN],
        jobDefinition="probe-array", arrayProperties={"size": 3},
        containerOverrides={"environment": [{"name": "FROM_OVERRIDE", "value": "1"}]})
    files = [tmp_path / f"{job['jobId']}-{i}.json" for i in range(3)]
    wait_until(lambda: all(f.exists() and f.stat().st_size for f in files), timeout=60,
               message="three array children")
    for index, file in enumerate(files):
        env = json.loads(file.read_text())
        assert env["AWS_BATCH_JOB_ID"] == f"{job['jobId']}:{index}"
        assert env["AWS_BATCH_JOB_ARRAY_INDEX"] == str(index)
        assert env["FROM_DEFINITION"] == "yes" and env["FROM_OVERRIDE"] == "1"
        assert env["AWS_ENDPOINT_URL"] == sandbox.server.endpoint


def test_a_plain_job_runs_once_and_terminate_kills_it(sandbox, tmp_path):
    _probe_definition(sandbox, "probe-long", 300, tmp_path)
    batch = sandbox.client("batch")
    job = batch.submit_job(jobName="probe", jobQueue=sandbox.outputs[r.JOB_QUEUE_ARN],
                           jobDefinition="probe-long")
    probe = tmp_path / f"{job['jobId']}.json"
    wait_until(lambda: probe.exists() and probe.stat().st_size, timeout=60, message="the job")
    assert "AWS_BATCH_JOB_ARRAY_INDEX" not in json.loads(probe.read_text())
    [proc] = sandbox.batch.processes[job["jobId"]]
    assert proc.poll() is None
    batch.terminate_job(jobId=job["jobId"], reason="stop it")
    wait_until(lambda: proc.poll() is not None, timeout=30, message="the job killed")


def test_a_started_build_is_performed_locally_and_reported(sandbox):
    outputs = sandbox.outputs
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    variables = {r.BUILD_KIND: r.BUILD_KIND_FUNCTION, r.BUILD_PYTHON_VERSION: version,
                 r.BUILD_IMAGE_TAG: "env-sandboxtest", r.BUILD_REQUIREMENTS_URI: "",
                 r.BUILD_FUNCTION_ID: "f-sandbox"}
    build = sandbox.client("codebuild").start_build(
        projectName=outputs[r.BUILD_PROJECT_NAME],
        environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"}
                                      for k, v in variables.items()])["build"]

    def delivered():
        return [i for i in list(sandbox.lambdas.invocations)
                if i.handler.endswith(".build_finished")
                and i.event["detail"]["build-id"] == build["arn"]]

    [invocation] = wait_until(delivered, timeout=120, message="the build-finished event")
    detail = invocation.event["detail"]
    assert detail["build-status"] == "SUCCEEDED"
    assert detail["project-name"] == outputs[r.BUILD_PROJECT_NAME]
    sent = {v["name"]: v["value"]
            for v in detail["additional-information"]["environment"]["environment-variables"]}
    assert {k: sent[k] for k in variables} == variables
    # The image is in ECR, standing for a local environment of the same Python.
    image = sandbox.client("ecr").batch_get_image(
        repositoryName=outputs[r.REPOSITORY_NAME],
        imageIds=[{"imageTag": "env-sandboxtest"}])["images"][0]
    python = json.loads(image["imageManifest"])["annotations"]["skyrun.sandbox.python"]
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(tuple(sys.version_info[:2]))
    # Its output is in the build's log stream, where the handler reads it.
    logs = detail["additional-information"]["logs"]
    events = sandbox.client("logs").get_log_events(
        logGroupName=logs["group-name"], logStreamName=logs["stream-name"],
        startFromHead=True)["events"]
    assert any("Pushed env-sandboxtest" in e["message"] for e in events)


def test_the_schedule_runs_the_reconciler(sandbox):
    def ticks():
        return [i for i in list(sandbox.lambdas.invocations) if i.handler.endswith(".reconcile")]

    wait_until(lambda: len(ticks()) >= 2, timeout=60, message="two reconcile ticks")
    env_of_handler = sandbox.deployed.functions
    [reconciler] = [f for f in env_of_handler.values() if f.handler.endswith(".reconcile")]
    # The handler gets the deployment's names from the template, as on Lambda.
    assert reconciler.environment[r.environment_variable(r.JOBS_TABLE_NAME)] == \
        sandbox.outputs[r.JOBS_TABLE_NAME]


def _port_open(endpoint: str) -> bool:
    host, port = endpoint.rsplit("/", 1)[-1].split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def test_stop_leaves_nothing_running(tmp_path):
    with Sandbox(home=tmp_path, schedules=False, codebuild=False) as sb:
        _probe_definition(sb, "probe-stop", 300, tmp_path)
        job = sb.client("batch").submit_job(
            jobName="probe", jobQueue=sb.outputs[r.JOB_QUEUE_ARN], jobDefinition="probe-stop",
            arrayProperties={"size": 2})
        wait_until(lambda: len(list(tmp_path.glob(f"{job['jobId']}-*.json"))) == 2, timeout=60,
                   message="two workers")
        procs = list(sb.batch.processes[job["jobId"]])
        endpoint = sb.server.endpoint
        server = psutil.Process(sb.server.pid)
        assert _port_open(endpoint)
    assert all(p.poll() is not None for p in procs)
    assert not _port_open(endpoint)
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE


def test_the_command_writes_the_env_file_and_stops_on_sigint(tmp_path):
    env_file = tmp_path / "sandbox.env"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / d) for d in ("sdk", "runtime", "infra")]
        + [os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "skyrun.cli", "sandbox", "--env-file",
                             str(env_file)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: env_file.exists() and "SKYRUN_STACK=skyrun" in env_file.read_text(),
                   timeout=120, message="the env file")
        lines = dict(x.split("=", 1) for x in env_file.read_text().splitlines())
        assert _port_open(lines["AWS_ENDPOINT_URL"])
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert not _port_open(lines["AWS_ENDPOINT_URL"])
    time.sleep(0)  # the children were waited for by the sandbox itself
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def warm_probe(event, context):
    """A handler for the warm-process test: its process id, an error, or sudden death."""
    if event.get("do") == "raise":
        print("about to fail")
        raise ValueError("boom")
    if event.get("do") == "die":
        os._exit(3)
    print("seen", event["x"])
    return {"pid": os.getpid(), "x": event["x"]}


def test_handlers_run_in_a_warm_process_that_is_replaced_when_it_dies():
    from skyrun.sandbox.events import Lambdas
    from skyrun.sandbox.provision import LambdaFunction

    lambdas = Lambdas(deployed=None, environment={})
    fn = LambdaFunction("Probe", "probe", "arn:probe", f"{__name__}.warm_probe", {})
    try:
        first, second = (lambdas.invoke(fn, {"x": i}) for i in (1, 2))
        assert first.returncode == 0 and first.result["x"] == 1 and "seen 1" in first.output
        # The same process served both, as Lambda reuses a warm environment.
        assert second.result == {"pid": first.result["pid"], "x": 2}
        failed = lambdas.invoke(fn, {"do": "raise"})
        assert failed.returncode == 1 and failed.result is None
        assert "about to fail" in failed.output and "ValueError: boom" in failed.output
        assert lambdas.invoke(fn, {"x": 3}).result["pid"] == first.result["pid"]
        died = lambdas.invoke(fn, {"do": "die"})
        assert died.returncode == 1 and died.result is None
        after = lambdas.invoke(fn, {"x": 4})
        assert after.returncode == 0 and after.result["pid"] != first.result["pid"]
        assert [i.event for i in lambdas.invocations][-1] == {"x": 4}
    finally:
        lambdas.stop()
    assert not psutil.pid_exists(after.result["pid"]) or \
        psutil.Process(after.result["pid"]).status() == psutil.STATUS_ZOMBIE
    assert lambdas.invoke(fn, {"x": 5}).returncode == 1  # stopped: nothing starts again


def test_the_stand_ins_wait_for_work_without_asking_moto(sandbox, tmp_path):
    # Idle, the Batch, CodeBuild and Lambda stand-ins make no requests: they learn of new
    # work from the server instead of listing jobs and builds (the schedule's handlers
    # still run, and may still be at work on an earlier test's build).
    polls = ("batch listjobs", "batch describejobs", "codebuild ListBuildsForProject",
             "codebuild BatchGetBuilds")
    before = sandbox.server.requests_served()
    time.sleep(2)
    after = sandbox.server.requests_served()
    for operation in polls:
        assert after.get(operation, 0) == before.get(operation, 0), (operation, before, after)
    # A job submitted while a stand-in waits is told at once, with its id.
    _, start = sandbox.server.events(0)
    _probe_definition(sandbox, "probe-told", 0, tmp_path)
    told = {}

    def wait_for_a_job():
        told["events"], told["next"] = sandbox.server.events(start, [BATCH_SUBMIT], wait=60)

    waiter = threading.Thread(target=wait_for_a_job)
    waiter.start()
    job = sandbox.client("batch").submit_job(
        jobName="probe", jobQueue=sandbox.outputs[r.JOB_QUEUE_ARN], jobDefinition="probe-told")
    waiter.join(90)
    assert [(e["kind"], e["job_id"]) for e in told["events"]] == [(BATCH_SUBMIT, job["jobId"])]
    assert told["next"] > start
    # With nothing new, a wait ends empty after its time.
    assert sandbox.server.events(told["next"], [BATCH_SUBMIT], wait=0.2)[0] == []
