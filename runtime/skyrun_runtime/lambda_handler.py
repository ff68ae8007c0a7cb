"""A worker in an AWS Lambda invocation: the same loop as on Batch, with a time budget.

The Lambda launcher (``skyrun.backends.aws.lambda_launcher``) invokes the Lambda
function of a Function's environment asynchronously with ``{"function_id": ...,
"worker_id": ...}``; :func:`handler` runs the worker loop for that Function until it is
idle, stopped or deleted, or until the invocation's remaining time
(``context.get_remaining_time_in_millis()``) is too short for the next job's ``timeout``
plus :data:`MARGIN_SECONDS`. Then it leaves cleanly: a job it holds always ends before
Lambda's own limit would cut it off, and jobs left pending get a new invocation from the
next launch (a submission, or the scheduled reconciler within a minute).

Only ``/tmp`` is writable on Lambda: bundles are unpacked under ``/tmp/skyrun``, which
a warm container keeps between invocations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

#: Time kept past a job's timeout for what follows it: killing it, flushing its log,
#: storing its result and settling it (a few requests, well under a second each).
MARGIN_SECONDS = 15.0
#: An idle Lambda worker is billed by the millisecond: it waits this long for more
#: work (unless ``SKYRUN_WORKER_IDLE_SECONDS`` says otherwise) before it leaves.
IDLE_SECONDS = 10.0
#: Where bundles are unpacked: Lambda's only writable disk.
WORK_DIR = "/tmp/skyrun/work"


def time_rule(remaining_seconds: Callable[[], float],
              margin: float = MARGIN_SECONDS) -> Callable[[dict], bool]:
    """The worker's ``may_claim`` predicate: a job of the Function may be claimed only
    if its ``timeout`` plus ``margin`` fits in the time left."""

    def may_claim(function: dict) -> bool:
        return float(function["timeout"]) + margin <= remaining_seconds()

    return may_claim


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: run the worker of ``event["function_id"]``."""
    from skyrun import config
    from skyrun.client import open_backend
    from skyrun_runtime.worker import Worker

    function_id = event["function_id"]
    worker_id = event.get("worker_id") or getattr(context, "aws_request_id", None)
    os.environ.setdefault("SKYRUN_WORK_DIR", WORK_DIR)
    idle = float(os.environ.get("SKYRUN_WORKER_IDLE_SECONDS", IDLE_SECONDS))
    backend = open_backend(config.backend_name())
    worker = Worker(backend, function_id, worker_id=worker_id, idle_seconds=idle,
                    may_claim=time_rule(lambda: context.get_remaining_time_in_millis() / 1000))
    worker.run()
    return {"function_id": function_id, "worker_id": worker.worker_id,
            "remaining_seconds": context.get_remaining_time_in_millis() / 1000}
