"""Driving a backend's store as workers and reapers would, for the tests of the job state
machine: Function records written straight to the store (no build, no worker process),
claims under made-up worker ids, and a hook between a read and a write.

The Functions stay ``stopped`` except for the instant of a claim, so no launcher or
reconciler starts a real worker for them; leases are long, so no reaper judges the
made-up workers lost.
"""

from __future__ import annotations

import time
import uuid

from skyrun.compute.operations import new_job_record
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT
from skyrun.engine.workerslots import claim_as_worker

LEASE = 600.0


def function_record(client, **settings) -> dict:
    """Store a ``stopped`` Function record in the client's namespace (``settings`` win)."""
    t = time.time()
    record = {"id": uuid.uuid4().hex, "namespace": client.namespace,
              "owner": client.namespace.partition(":")[2], "name": "f",
              "image": "python3.11:latest", "cpus": 1.0, "memory": 2048,
              "maximum_concurrency": 1, "timeout": 3600, "retry_count": 0,
              "enabled": True, "auto_start": True, "environment": {}, "status": "stopped",
              "creation_date": t, "modified_date": t, "python": "3.11",
              "requirements": [], "entrypoint": "callable"}
    record.update(settings)
    client.backend.store.create_function(record)
    return record


def job_record(backend, function: dict, **fields) -> dict:
    """Store one pending job of the Function, then set ``fields`` on it."""
    ref = uuid.uuid4().hex
    [job] = backend.store.insert_jobs(ref, [new_job_record(
        f"{ref}-0", function, ref, time.time(), "[]", "{}", {}, [])])
    if fields:
        job = backend.store.update_job(job["id"], fields)
    return job


def claim_as(backend, function: dict, worker: str) -> dict | None:
    """Claim as ``worker`` would: the Function is ready for that instant only."""
    store = backend.store
    store.update_function(function["id"], {"status": "ready"})
    try:
        return claim_as_worker(store, function["id"], worker, LEASE, NAMESPACE_ACTIVE_LIMIT, time.time())
    finally:
        store.update_function(function["id"], {"status": "stopped"})


def before_first_write(monkeypatch, backend, job_id: str, action) -> list:
    """Run ``action`` once, just before the first conditional write to ``job_id``: after
    whatever the code under test has read, before it writes."""
    store = backend.store
    original = store.update_job
    fired: list = []

    def update_job(jid, changes, expect=None):
        if jid == job_id and expect and not fired:
            fired.append(jid)
            action()
        return original(jid, changes, expect)

    monkeypatch.setattr(store, "update_job", update_job)
    return fired
