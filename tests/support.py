"""Backend-neutral helpers to find and kill the worker processes of a test's Functions.

On both backends the workers are processes on this machine running
``python -m skyrun_runtime.worker``: the embedded backend's launcher starts them, and on
the AWS sandbox the Batch stand-in does. A worker's id is derived as the worker derives
it (``skyrun_runtime.worker``): the Batch job id (with the array index) inside a Batch
job, else ``{host}-{pid}``.
"""

from __future__ import annotations

import os
import signal
import socket

import psutil

from skyrun_runtime.worker import batch_worker_id

WORKER_MODULE = "skyrun_runtime.worker"


def _function_of(cmdline: list[str], environ: dict[str, str]) -> str | None:
    if "--function" in cmdline[:-1]:
        return cmdline[cmdline.index("--function") + 1]
    return environ.get("SKYRUN_FUNCTION_ID")


def worker_processes(function_id: str | None = None) -> dict[str, psutil.Process]:
    """The live worker processes (of one Function, if given), by worker id."""
    found: dict[str, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if WORKER_MODULE not in cmdline or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            environ = proc.environ()
        except psutil.Error:
            continue
        if function_id is not None and _function_of(cmdline, environ) != function_id:
            continue
        if "--worker-id" in cmdline[:-1]:
            worker_id = cmdline[cmdline.index("--worker-id") + 1]
        else:
            worker_id = batch_worker_id(environ) or f"{socket.gethostname()}-{proc.pid}"
        found[worker_id] = proc
    return found


def kill_worker(worker_id: str, function_id: str | None = None, wait: float = 0) -> bool:
    """SIGKILL the worker process with this id (not its executor: a worker that dies
    suddenly leaves it orphaned, as a lost host would). False if it is not running.

    With ``wait``, wait up to that many seconds for the worker and the processes it had
    started (its executor dies with it) to be gone, so that nothing of the killed attempt
    runs after this returns."""
    proc = worker_processes(function_id).get(worker_id)
    if proc is None:
        return False
    try:
        descendants = proc.children(recursive=True)
        proc.send_signal(signal.SIGKILL)
    except psutil.Error:
        return False
    if wait:
        _, alive = psutil.wait_procs([proc, *descendants], timeout=wait)
        assert not alive, f"still running {wait} s after the kill of {worker_id}: " + str(
            [(p.pid, p.cmdline(), p.ppid(), p.status()) for p in alive])
    return True


def running_worker(fn, job_id: str) -> str | None:
    """The id of the worker running the job, while it runs and that worker's process is
    here to be killed; else None."""
    record = fn._client.backend.store.get_job(job_id)
    if record is None or record["status"] != "running" or not record.get("worker_id"):
        return None
    worker_id = record["worker_id"]
    return worker_id if worker_id in worker_processes(fn.id) else None


def stored_data_exists(client, href: str) -> bool:
    """Whether a blob's data is where its ``href`` says (a file, or an S3 object)."""
    if href.startswith("s3://"):
        from botocore.exceptions import ClientError

        bucket, _, key = href[len("s3://"):].partition("/")
        try:
            client.backend.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True
    return os.path.exists(href)


def stored_blob_ids(client) -> list[str]:
    """The ids of the client's namespace's blob records, read straight from the store
    (expired ones included)."""
    backend = client.backend
    if hasattr(backend, "db"):
        rows = backend.db.connection().execute(
            "SELECT id FROM blobs WHERE namespace = ?", (client.namespace,))
        return sorted(r[0] for r in rows)
    blobs = backend.blobs
    ids, kwargs = [], {"TableName": blobs.table, "ProjectionExpression": "id",
                       "FilterExpression": "#ns = :ns",
                       "ExpressionAttributeNames": {"#ns": "namespace"},
                       "ExpressionAttributeValues": {":ns": {"S": client.namespace}},
                       "ConsistentRead": True}
    while True:
        page = blobs.dynamodb.scan(**kwargs)
        ids += [item["id"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return sorted(ids)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stray_data(backend, blob_id: str) -> list[str]:
    """Data an attempt stored for a blob that the blob's record does not name: a staged
    file left beside the blob's place (embedded) or an attempt's own S3 object
    (``{id},{mark}.{token}``) that no settle stored."""
    blobs = backend.blobs
    if hasattr(backend, "db"):
        return sorted(str(p) for p in blobs.path(blob_id).parent.glob(".tmp-*"))
    record = blobs.get_record(blob_id)
    named = blobs.data_key(record) if record is not None else None
    listing = blobs.s3.list_objects_v2(Bucket=blobs.bucket, Prefix=blob_id + ",")
    return sorted(o["Key"] for o in listing.get("Contents", []) if o["Key"] != named)
