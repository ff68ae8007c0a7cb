"""The Lambda handlers' work, given a backend: build_finished and reconcile."""

from __future__ import annotations

import time

from skyrun.compute import lifecycle
from skyrun_runtime import lambdas
from tests.aws.compute.support import (
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

