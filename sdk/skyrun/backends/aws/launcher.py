"""``BatchLauncher``: workers are AWS Batch jobs on Fargate, one worker per array child.

A launch is one SubmitJob: an array job of ``count`` children (a plain job for one
worker, since arrays start at two), on the deployment's worker queue, with the Function's
job definition. The overrides carry the function id, a few worker settings and the
Function's current size; job arguments never travel in the request.

Workers are tracked in the leases table (keys: :mod:`skyrun.backends.aws.leasekeys`),
under ``pk = "function#{function_id}"``:

* ``sk = "worker#{worker_id}"``: a worker's lease, renewed by its heartbeat; the worker
  id is its Batch job id (``{array job id}:{index}`` for a child);
* ``sk = "launch#{batch_job_id}"``: a launch, with the ``pending`` set of its array
  indexes and the ``started`` set of those whose worker registered; the others count
  as live. Fargate takes a minute or more to start a
  task, so a pending worker counts as live until it registers or the launch grows stale
  (:data:`LAUNCH_GRACE_SECONDS`); otherwise every ``submit()`` meanwhile would launch
  more workers.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from skyrun import config
from skyrun.backends.aws import jobdefs
from skyrun.backends.aws import resources as r
from skyrun.backends.aws.leasekeys import LAUNCH, WORKER, function_pk, launch_key, worker_key
from skyrun.backends.ports import Launcher, chunks
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT

if TYPE_CHECKING:
    from skyrun.backends.aws.backend import AwsBackend

logger = logging.getLogger(__name__)

#: Batch's largest array.
MAX_ARRAY_SIZE = 10_000
#: A worker's lease lasts this long past its last heartbeat (three claim leases:
#: ``$SKYRUN_LEASE_SECONDS`` scales it, see worker_lease_seconds()).
WORKER_LEASE_SECONDS = 3 * config.DEFAULT_LEASE_SECONDS
#: How often a worker renews its lease: three beats a lease, so two may be late or lost
#: (each is a request, for as long as the worker lives). One claim lease.
HEARTBEAT_SECONDS = config.DEFAULT_LEASE_SECONDS
#: How long a launched worker that has not registered yet counts as live.
LAUNCH_GRACE_SECONDS = 600.0
#: Worker settings passed on from the caller's environment when set there.
PASSED_SETTINGS = ("SKYRUN_WORKER_IDLE_SECONDS", config.LEASE_VARIABLE)


def worker_lease_seconds() -> float:
    """A worker's lease past its last heartbeat: three heartbeats."""
    return 3 * heartbeat_seconds()


def heartbeat_seconds() -> float:
    """How often a worker renews its lease: once per claim lease
    (``$SKYRUN_LEASE_SECONDS``, default 10)."""
    return config.lease_seconds()


class BatchLauncher(Launcher):
    """Launches and tracks the Batch workers of Functions."""

    #: How often the worker loop calls :meth:`heartbeat`.
    heartbeat_seconds: float | None = HEARTBEAT_SECONDS

    def __init__(self, backend: AwsBackend) -> None:
        self.backend = backend
        self.heartbeat_seconds = heartbeat_seconds()
        self._functions: dict[str, str] = {}  # worker id -> function id, of this process

    @property
    def _table(self) -> str:
        return self.backend.outputs[r.LEASES_TABLE_NAME]

    def _items(self, function_id: str) -> list[dict[str, Any]]:
        dynamodb = self.backend.client("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs = {"TableName": self._table, "ConsistentRead": True,
                  "KeyConditionExpression": "pk = :pk",
                  "ExpressionAttributeValues": {":pk": function_pk(function_id)}}
        while True:
            page = dynamodb.query(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- the port -----------------------------------------------------------------------
    def live_workers(self, function_id: str) -> set[str]:
        """Workers with an unexpired lease, and launched workers not started yet."""
        t = time.time()
        live: set[str] = set()
        for item in self._items(function_id):
            sk = item["sk"]["S"]
            if float(item.get(r.TTL_ATTRIBUTE, {}).get("N", 0)) <= t:
                continue
            if sk.startswith(WORKER):
                live.add(sk[len(WORKER):])
            elif sk.startswith(LAUNCH):
                job_id = sk[len(LAUNCH):]
                array = item.get("array", {}).get("BOOL", False)
                started = set(item.get("started", {}).get("NS", []))
                for index in set(item.get("pending", {}).get("NS", [])) - started:
                    live.add(f"{job_id}:{index}" if array else job_id)
        return live

    def launch(self, function: dict[str, Any], count: int) -> None:
        """Submit ``count`` workers (at most 10,000 and the namespace limit) as one job."""
        count = min(int(count), MAX_ARRAY_SIZE, NAMESPACE_ACTIVE_LIMIT)
        if count <= 0:
            return
        fid = function["id"]
        # With the Function's cpus now (it may have been resized since its job definition
        # was made) the worker starts its executor as its own interpreter starts, instead
        # of after its first claim (skyrun_runtime.supervisor.prestart).
        environment = {jobdefs.FUNCTION_VARIABLE: fid,
                       jobdefs.EXECUTOR_CPUS_VARIABLE: f"{float(function['cpus']):g}"}
        environment.update({k: os.environ[k] for k in PASSED_SETTINGS if k in os.environ})
        request = {
            "jobName": f"skyrun-{fid}",
            "jobQueue": self.backend.outputs[r.JOB_QUEUE_ARN],
            "jobDefinition": jobdefs.job_definition_name(self.backend, fid),
            "containerOverrides": {
                "environment": [{"name": k, "value": v} for k, v in environment.items()],
                # The Function may have been resized since its job definition was made.
                "resourceRequirements": jobdefs.resource_requirements(function),
            },
            "propagateTags": True,
            "tags": {"skyrun:function": fid},
        }
        if count >= 2:
            request["arrayProperties"] = {"size": count}
        try:
            job_id = self.backend.client("batch").submit_job(**request)["jobId"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("AccessDeniedException", "AccessDenied"):
                raise
            # Code inside a job may not start workers (its role has no SubmitJob): the
            # scheduled reconciler starts them within a minute.
            logger.warning("cannot start workers for %s here (%s); the reconciler will",
                           fid, exc.response["Error"].get("Message"))
            return
        # A worker may start (and register) before this is written: the launch is an
        # update that adds its indexes to ``pending``, and a registration adds its index
        # to ``started``, so the two meet in either order.
        self.backend.client("dynamodb").update_item(
            TableName=self._table, Key=launch_key(fid, job_id),
            UpdateExpression="SET #array = :array, #size = :size, #ttl = :ttl "
                             "ADD pending :pending",
            ExpressionAttributeNames={"#array": "array", "#size": "size",
                                      "#ttl": r.TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":array": {"BOOL": count >= 2}, ":size": {"N": str(count)},
                ":pending": {"NS": [str(i) for i in range(count)]},
                ":ttl": {"N": str(int(time.time() + LAUNCH_GRACE_SECONDS))}})

    def kill_workers(self, function_id: str) -> None:
        """Terminate the Function's Batch jobs and forget its workers."""
        batch = self.backend.client("batch")
        items = [i for i in self._items(function_id)
                 if i["sk"]["S"].startswith((WORKER, LAUNCH))]
        jobs = set()
        for item in items:
            sk = item["sk"]["S"]
            # Terminating an array job terminates its children.
            jobs.add(sk[len(LAUNCH):] if sk.startswith(LAUNCH)
                     else sk[len(WORKER):].split(":", 1)[0])
        for job_id in sorted(jobs):
            try:
                batch.terminate_job(jobId=job_id, reason="skyrun: the Function was deleted")
            except ClientError as exc:
                logger.warning("could not terminate Batch job %s: %s", job_id, exc)
        dynamodb = self.backend.client("dynamodb")
        for batch_items in chunks(items, 25):
            dynamodb.batch_write_item(RequestItems={self._table: [
                {"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}}
                for i in batch_items]})

    # -- worker registration --------------------------------------------------------------
    def register(self, worker_id: str, function_id: str) -> None:
        """A worker has started: take its lease and strike it from its launch."""
        self._functions[worker_id] = function_id
        self._renew(worker_id, function_id)
        job_id, sep, index = worker_id.partition(":")
        # Without a condition: the launch may not be written yet (see launch()); a worker
        # started some other way leaves a record that expires like a launch.
        self.backend.client("dynamodb").update_item(
            TableName=self._table,
            Key=launch_key(function_id, job_id),
            UpdateExpression="SET #ttl = if_not_exists(#ttl, :ttl) ADD started :index",
            ExpressionAttributeNames={"#ttl": r.TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":index": {"NS": [index if sep else "0"]},
                ":ttl": {"N": str(int(time.time() + LAUNCH_GRACE_SECONDS))}})

    def heartbeat(self, worker_id: str, function_id: str) -> None:
        """Renew a worker's lease (registering it on its first heartbeat)."""
        if self._functions.get(worker_id) != function_id:
            self.register(worker_id, function_id)
        else:
            self._renew(worker_id, function_id)

    def should_leave(self, worker_id: str, function_id: str, idle_seconds: float) -> bool:
        """Never early: each worker has capacity of its own; it leaves when idle for
        ``SKYRUN_WORKER_IDLE_SECONDS``."""
        return False

    def unregister(self, worker_id: str, function_id: str | None = None) -> None:
        """A worker is leaving: drop its lease."""
        function_id = function_id or self._functions.pop(worker_id, None)
        if function_id is None:
            return
        self.backend.client("dynamodb").delete_item(
            TableName=self._table, Key=worker_key(function_id, worker_id))

    def presumed_lost(self, worker_id: str, function_id: str) -> None:
        """Drop the lease of a worker whose job claim ran out (see the port)."""
        self.backend.client("dynamodb").delete_item(
            TableName=self._table, Key=worker_key(function_id, worker_id))

    def _renew(self, worker_id: str, function_id: str) -> None:
        self.backend.client("dynamodb").put_item(TableName=self._table, Item={
            **worker_key(function_id, worker_id),
            r.TTL_ATTRIBUTE: {"N": f"{time.time() + worker_lease_seconds():.3f}"},
        })
