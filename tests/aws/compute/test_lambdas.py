"""The Lambda handlers' work, given a backend: build_finished and reconcile."""

from __future__ import annotations

import time

import pytest

from skyrun.engine import lifecycle
from skyrun_runtime import lambdas
from tests.aws.compute.support import (
    StandInBackend,
    add_jobs,
    make_function,
    ready_function,
    submitted,
)


def _event(backend, function: dict, status: str) -> dict:
    item = backend.builder._get_build(function["id"])
    build = backend.client("codebuild").batch_get_builds(ids=[item["build_id"]])["builds"][0]
    variables = build["environment"]["environmentVariables"]
    return {"source": "aws.codebuild", "detail-type": "CodeBuild Build State Change",
            "detail": {"build-status": status, "project-name": build["projectName"],
                       "build-id": build["arn"], "additional-information": {
                           "environment": {"environment-variables": variables},
                           "logs": {"group-name": build["logs"]["groupName"],
                                    "stream-name": build["logs"]["streamName"]}}}}


def _claim(backend, job: dict, worker: str, expired: bool, losses: int = 0) -> None:
    t = time.time()
    backend.store.update_job(job["id"], {
        "status": "running", "worker_id": worker, "losses": losses,
        "lease_expires": t - 5 if expired else t + 60, "last_execution_date": t - 30})


def test_build_finished_settles_the_function_and_starts_its_workers(backend):
    function = make_function(backend)
    add_jobs(backend, function, 2)
    backend.builder.start(function, ["six"])
    result = lambdas._build_finished(backend, _event(backend, function, "SUCCEEDED"))
    assert result == {"function_id": function["id"], "status": "ready"}
    # Jobs were waiting: the ready Function got its workers at once.
    [job] = submitted(backend, function["id"])
    assert job["arrayProperties"]["size"] == 2


def test_build_finished_of_a_failed_build(backend):
    function = make_function(backend)
    backend.builder.start(function, ["six"])
    result = lambdas._build_finished(backend, _event(backend, function, "FAILED"))
    assert result == {"function_id": function["id"], "status": "build_failed"}
    assert lambdas._build_finished(backend, {"detail": {}}) == {"function_id": None,
                                                                 "status": None}


def test_reconcile_relaunches_workers_for_runnable_jobs(backend):
    idle = ready_function(backend)
    waiting = ready_function(backend, maximum_concurrency=3)
    add_jobs(backend, waiting, 5)
    result = lambdas._reconcile(backend, {})
    assert result["failed"] == []
    assert submitted(backend, idle["id"]) == []
    [job] = submitted(backend, waiting["id"])
    assert job["arrayProperties"]["size"] == 3
    # The launched workers count as live until they start: the next tick adds none.
    lambdas._reconcile(backend, {})
    assert len(submitted(backend, waiting["id"])) == 1


def test_reconcile_requeues_lost_jobs_and_fails_those_lost_too_often(backend):
    function = ready_function(backend, status="stopped")  # stopped: no launch, still reaped
    backend.store.update_function(function["id"], {"status": "stopped"})
    lost, spent, alive = add_jobs(backend, function, 3)
    _claim(backend, lost, "gone-1", expired=True)
    _claim(backend, spent, "gone-2", expired=True, losses=lifecycle.MAX_LOSSES - 1)
    _claim(backend, alive, "alive-1", expired=False)
    result = lambdas._reconcile(backend, {})
    assert result["reaped"] >= 2
    assert backend.store.get_job(lost["id"])["status"] == "pending"
    spent_now = backend.store.get_job(spent["id"])
    assert spent_now["status"] == "failure" and "Worker lost" in spent_now["error_reason"]
    assert backend.store.get_job(alive["id"])["status"] == "running"
    assert submitted(backend, function["id"]) == []



@pytest.fixture
def dynamo_backend(quiet_sandbox, tmp_path):
    """The stand-in backend with the deployment's DynamoDB records (idle marks live
    there: the local store keeps none)."""
    from skyrun.backends.aws import resources as r
    from skyrun.backends.aws.store import DynamoStore

    backend = StandInBackend(quiet_sandbox, tmp_path / "home")
    out = quiet_sandbox.outputs
    backend.store = DynamoStore(backend.client("dynamodb"), out[r.FUNCTIONS_TABLE_NAME],
                                out[r.JOBS_TABLE_NAME], out[r.BATCHES_TABLE_NAME],
                                out[r.LEASES_TABLE_NAME], blobs=out[r.BLOBS_TABLE_NAME])
    return backend


def _finish(backend, jobs: list[dict]) -> None:
    for job in jobs:
        backend.store.update_job(job["id"], {"status": "success"})


def _to_visit(backend) -> set[str]:
    # Other tests' Functions share the deployment: look at this test's only.
    return {record["id"] for record, _, _ in backend.store.functions_to_reconcile()}


def test_reconcile_skips_functions_marked_idle_until_jobs_come(dynamo_backend):
    backend = dynamo_backend
    function = ready_function(backend)
    _finish(backend, add_jobs(backend, function, 2))
    assert function["id"] in _to_visit(backend)
    assert lambdas._reconcile(backend, {}, idle_after=0)["idled"] >= 1
    # Marked idle: later ticks do not look at it.
    assert function["id"] not in _to_visit(backend)
    # New jobs move its epoch on: it is visited again, and gets a worker.
    add_jobs(backend, function, 1)
    assert function["id"] in _to_visit(backend)
    lambdas._reconcile(backend, {}, idle_after=0)
    assert len(submitted(backend, function["id"])) == 1


def test_a_rerun_brings_an_idle_function_back(dynamo_backend):
    backend = dynamo_backend
    function = ready_function(backend)
    [job] = add_jobs(backend, function, 1)
    backend.store.update_job(job["id"], {"status": "failure"})
    lambdas._reconcile(backend, {}, idle_after=0)
    assert function["id"] not in _to_visit(backend)
    assert lifecycle.rerun_job(backend, backend.store.get_job(job["id"])) is not None
    backend.store.note_runnable(function["id"])  # what JobSearch.rerun does after its reruns
    assert function["id"] in _to_visit(backend)
    lambdas._reconcile(backend, {}, idle_after=0)
    assert len(submitted(backend, function["id"])) == 1


def test_recent_jobs_and_a_moved_epoch_keep_a_function_from_idling(dynamo_backend):
    backend = dynamo_backend
    function = ready_function(backend)
    _finish(backend, add_jobs(backend, function, 1))
    # Jobs added a moment ago: the status index may not show them yet, so no idle mark.
    lambdas._reconcile(backend, {})
    assert function["id"] in _to_visit(backend)
    # A mark made at an epoch that moved on meanwhile does not stick.
    [epoch] = [e for record, e, _ in backend.store.functions_to_reconcile()
               if record["id"] == function["id"]]
    backend.store.note_runnable(function["id"])
    assert backend.store.mark_idle(function["id"], epoch) is False
    assert function["id"] in _to_visit(backend)
    assert backend.store.mark_idle(function["id"], epoch + 1) is True
    assert function["id"] not in _to_visit(backend)
