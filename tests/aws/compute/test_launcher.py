"""BatchLauncher on moto: array jobs sized by DESIGN.md, worker leases and heartbeats,
pending launches counted as live, workers presumed lost when their claims run out, and
killing a Function's workers."""

from __future__ import annotations

import copy
import time

from skyrun.backends.aws import resources as r
from skyrun.backends.aws.launcher import BatchLauncher
from skyrun.backends.aws.leasekeys import WORKER
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT
from skyrun.engine import lifecycle
from skyrun_runtime.worker import batch_worker_id
from tests.aws.compute.support import add_jobs, ready_function, submitted


def _record_submits(backend) -> list[dict]:
    """The parameters of every SubmitJob the backend's Batch client sends from now on
    (DescribeJobs shows the overrides merged with the job definition)."""
    sent: list[dict] = []
    backend.client("batch").meta.events.register(
        "provide-client-params.batch.SubmitJob",
        lambda params, **_: sent.append(copy.deepcopy(params)))
    return sent


def test_launch_submits_one_array_job_with_the_function_id_only(backend, monkeypatch):
    monkeypatch.setenv("SKYRUN_WORKER_IDLE_SECONDS", "7")
    monkeypatch.setenv("SKYRUN_LEASE_SECONDS", "5")
    monkeypatch.setenv("SKYRUN_SECRET_THING", "not passed on")
    function = ready_function(backend, cpus=2.0, memory=8192)
    sent = _record_submits(backend)
    backend.launcher.launch(function, 5)
    [job] = submitted(backend, function["id"])
    assert job["arrayProperties"]["size"] == 5
    assert job["jobQueue"] == backend.outputs[r.JOB_QUEUE_ARN]
    assert job["jobDefinition"].split("/")[-1].split(":")[0] == \
        backend.outputs[r.JOB_DEFINITION_PREFIX] + function["id"]
    # Overrides: the function id, its cpus for the executor and worker settings only;
    # never job arguments.
    overrides = {"SKYRUN_FUNCTION_ID": function["id"], "SKYRUN_EXECUTOR_CPUS": "2",
                 "SKYRUN_WORKER_IDLE_SECONDS": "7", "SKYRUN_LEASE_SECONDS": "5"}
    [request] = sent
    assert set(request) == {"jobName", "jobQueue", "jobDefinition", "containerOverrides",
                            "arrayProperties", "propagateTags", "tags"}
    overridden = request["containerOverrides"]
    assert {e["name"]: e["value"] for e in overridden["environment"]} == overrides
    assert set(overridden) == {"environment", "resourceRequirements"}
    assert backend.launcher.live_workers(function["id"]) == {
        f"{job['jobId']}:{i}" for i in range(5)}


def test_one_worker_is_a_plain_job(backend):
    function = ready_function(backend)
    backend.launcher.launch(function, 1)
    [job] = submitted(backend, function["id"])
    assert "size" not in (job.get("arrayProperties") or {})
    assert backend.launcher.live_workers(function["id"]) == {job["jobId"]}


def test_launch_is_capped_by_the_namespace_limit_and_nothing_for_zero(backend):
    function = ready_function(backend)
    backend.launcher.launch(function, 0)
    assert submitted(backend, function["id"]) == []
    backend.launcher.launch(function, 20_000)
    [job] = submitted(backend, function["id"])
    assert job["arrayProperties"]["size"] == min(10_000, NAMESPACE_ACTIVE_LIMIT)


def test_a_registered_worker_replaces_its_pending_slot(backend):
    function = ready_function(backend)
    fid = function["id"]
    backend.launcher.launch(function, 3)
    [job] = submitted(backend, fid)
    child = batch_worker_id({"AWS_BATCH_JOB_ID": job["jobId"], "AWS_BATCH_JOB_ARRAY_INDEX": "1"})
    assert child == f"{job['jobId']}:1"
    # A worker process has its own launcher (its own backend object).
    worker_side = BatchLauncher(backend)
    worker_side.heartbeat(child, fid)
    assert backend.launcher.live_workers(fid) == {f"{job['jobId']}:{i}" for i in range(3)}
    worker_side.heartbeat(child, fid)  # a renewal, not a second registration
    worker_side.unregister(child)
    assert backend.launcher.live_workers(fid) == {f"{job['jobId']}:{i}" for i in (0, 2)}


def test_a_worker_without_heartbeats_is_not_live(backend):
    function = ready_function(backend)
    fid = function["id"]
    launcher = BatchLauncher(backend)
    launcher.register("manual-1", fid)
    assert backend.launcher.live_workers(fid) == {"manual-1"}
    backend.client("dynamodb").put_item(TableName=backend.outputs[r.LEASES_TABLE_NAME], Item={
        "pk": {"S": f"function#{fid}"}, "sk": {"S": WORKER + "manual-1"},
        r.TTL_ATTRIBUTE: {"N": str(time.time() - 1)}})
    assert backend.launcher.live_workers(fid) == set()


def test_the_lease_setting_sets_the_heartbeat_and_the_workers_lease(backend, monkeypatch):
    # $SKYRUN_LEASE_SECONDS is a claim's lease; a worker beats once per
    # claim lease and its registration lasts three beats. The deployment's default: 10/30.
    function = ready_function(backend)
    fid = function["id"]
    for lease, beat in (("", 10.0), ("2.5", 2.5)):
        monkeypatch.setenv("SKYRUN_LEASE_SECONDS", lease)
        worker_side = BatchLauncher(backend)
        assert worker_side.heartbeat_seconds == beat
        t = time.time()
        worker_side.heartbeat(f"w-{lease}", fid)
        item = backend.client("dynamodb").get_item(
            TableName=backend.outputs[r.LEASES_TABLE_NAME], ConsistentRead=True,
            Key={"pk": {"S": f"function#{fid}"}, "sk": {"S": WORKER + f"w-{lease}"}})["Item"]
        # (The expiry is written to the millisecond.)
        assert t + 3 * beat - 0.001 <= float(item[r.TTL_ATTRIBUTE]["N"]) \
            <= time.time() + 3 * beat + 0.001


def test_a_worker_whose_claim_ran_out_stops_counting_as_live(backend):
    # Its lease would keep it "live" for up to 30 s more, holding back a replacement.
    function = ready_function(backend, maximum_concurrency=1)
    fid = function["id"]
    [job, other] = add_jobs(backend, function, 2)
    worker_side = BatchLauncher(backend)
    for worker_id in ("lost-1", "busy-1"):
        worker_side.heartbeat(worker_id, fid)
    t = time.time()
    backend.store.update_job(job["id"], {"status": "running", "worker_id": "lost-1",
                                         "lease_expires": t - 1, "last_execution_date": t - 20})
    backend.store.update_job(other["id"], {"status": "running", "worker_id": "busy-1",
                                           "lease_expires": t + 60, "last_execution_date": t})
    assert backend.launcher.live_workers(fid) == {"lost-1", "busy-1"}
    assert lifecycle.reap_lost(backend, fid) == 1
    assert backend.store.get_job(job["id"])["status"] == "pending"
    assert backend.launcher.live_workers(fid) == {"busy-1"}
    worker_side.heartbeat("lost-1", fid)  # it was only slow: its next heartbeat counts
    assert backend.launcher.live_workers(fid) == {"lost-1", "busy-1"}


def test_ensure_workers_launches_what_is_missing_once(backend):
    function = ready_function(backend, maximum_concurrency=2)
    add_jobs(backend, function, 3)
    assert lifecycle.ensure_workers(backend, function) == 2
    # Until they start, the launched workers count as live: no second launch.
    assert lifecycle.ensure_workers(backend, function) == 0
    [job] = submitted(backend, function["id"])
    assert job["arrayProperties"]["size"] == 2


def test_resized_function_overrides_its_job_definition_size(backend):
    function = ready_function(backend, cpus=4.0, memory=16384)
    sent = _record_submits(backend)
    backend.launcher.launch(function, 2)
    [request] = sent
    resources = request["containerOverrides"]["resourceRequirements"]
    assert {x["type"]: x["value"] for x in resources} \
        == {"VCPU": "4", "MEMORY": "16384"}


def test_kill_workers_terminates_the_batch_jobs_and_forgets_the_workers(backend):
    function = ready_function(backend)
    fid = function["id"]
    backend.launcher.launch(function, 2)
    [job] = submitted(backend, fid)
    BatchLauncher(backend).register(f"{job['jobId']}:0", fid)
    backend.launcher.kill_workers(fid)
    assert backend.launcher.live_workers(fid) == set()
    [after] = backend.client("batch").describe_jobs(jobs=[job["jobId"]])["jobs"]
    assert after["statusReason"].startswith("skyrun:")


def test_batch_worker_ids():
    assert batch_worker_id({}) is None
    assert batch_worker_id({"AWS_BATCH_JOB_ID": "abc"}) == "abc"
    assert batch_worker_id({"AWS_BATCH_JOB_ID": "abc:3", "AWS_BATCH_JOB_ARRAY_INDEX": "3"}) \
        == "abc:3"
    assert batch_worker_id({"AWS_BATCH_JOB_ID": "abc", "AWS_BATCH_JOB_ARRAY_INDEX": "4"}) \
        == "abc:4"
