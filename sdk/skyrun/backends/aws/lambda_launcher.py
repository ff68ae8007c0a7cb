"""``LambdaLauncher``: workers of Functions that fit Lambda are Lambda invocations.

Behind the same ``Launcher`` port as :class:`~skyrun.backends.aws.launcher.BatchLauncher`,
whose tracking it shares: ``launch(function, count)`` picks the target by the one rule
(:func:`skyrun.domain.targets.choose`) and, for Lambda, makes ``count`` asynchronous
invocations of the Lambda function of the Function's environment
(:mod:`skyrun.backends.aws.lambda_functions`), each with ``{"function_id",
"worker_id"}``. The worker ids are ``{launch id}:{index}`` as for a Batch array, and
the launch is recorded the same way (``launch#{launch id}`` with its ``pending``
indexes), so live workers, registration, heartbeats and lost-worker requeues are the
existing rules, unchanged. A Lambda invocation starts in seconds, so a launched worker
that has not registered counts as live for :data:`LAMBDA_GRACE_SECONDS` only.

An invocation cannot be stopped from outside: when a Function is deleted its Lambda
workers see it gone and leave at their next look (a deleted Function has no active job).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from skyrun.backends.aws import lambda_functions
from skyrun.backends.aws import resources as r
from skyrun.backends.aws.launcher import MAX_ARRAY_SIZE, BatchLauncher
from skyrun.backends.aws.leasekeys import LAUNCH, WORKER, launch_key
from skyrun.domain import targets
from skyrun.domain.limits import NAMESPACE_ACTIVE_LIMIT

if TYPE_CHECKING:
    from skyrun.backends.aws.backend import AwsBackend

logger = logging.getLogger(__name__)

#: How long an invoked worker that has not registered yet counts as live.
LAMBDA_GRACE_SECONDS = 120.0
#: Launch ids of Lambda launches start with this (Batch job ids never do).
LAMBDA_LAUNCH = "lambda-"
#: Invocations made at once (each is one request of a few milliseconds).
INVOKE_THREADS = 16
_DENIED = ("AccessDeniedException", "AccessDenied")


class LambdaLauncher(BatchLauncher):
    """Starts each Function's workers on Lambda or Batch, by the Function's target."""

    def __init__(self, backend: AwsBackend) -> None:
        super().__init__(backend)
        self._memory: dict[str, int] = {}  # Lambda function name -> its memory (MB)

    def launch(self, function: dict[str, Any], count: int) -> None:
        """``count`` invocations of the environment's Lambda function, for a Function
        that runs on Lambda; else a Batch launch."""
        if targets.choose(function) != targets.LAMBDA or not function.get("env_hash"):
            super().launch(function, count)
            return
        count = min(int(count), MAX_ARRAY_SIZE, NAMESPACE_ACTIVE_LIMIT)
        if count <= 0:
            return
        fid = function["id"]
        name = lambda_functions.function_name(self.backend, function["env_hash"])
        if not self._sized_for(name, function):
            # No Lambda function for the environment (removed, or made before the target
            # existed), or one too small that cannot be grown from here: Batch instead.
            super().launch(function, count)
            return
        launch_id = LAMBDA_LAUNCH + uuid.uuid4().hex[:16]
        dynamodb = self.backend.client("dynamodb")
        key = launch_key(fid, launch_id)
        # Recorded first: an invoked worker may register within milliseconds.
        dynamodb.update_item(
            TableName=self._table, Key=key,
            UpdateExpression="SET #array = :array, #size = :size, #ttl = :ttl "
                             "ADD pending :pending",
            ExpressionAttributeNames={"#array": "array", "#size": "size",
                                      "#ttl": r.TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":array": {"BOOL": True}, ":size": {"N": str(count)},
                ":pending": {"NS": [str(i) for i in range(count)]},
                ":ttl": {"N": str(int(time.time() + LAMBDA_GRACE_SECONDS))}})
        client = self.backend.client("lambda")

        def invoke(index: int) -> str | None:
            payload = {"function_id": fid, "worker_id": f"{launch_id}:{index}"}
            try:
                client.invoke(FunctionName=name, InvocationType="Event",
                              Payload=json.dumps(payload).encode())
                return None
            except ClientError as exc:
                code: str = exc.response["Error"]["Code"]
                return code

        if count == 1:
            errors = [invoke(0)]
        else:
            with ThreadPoolExecutor(min(INVOKE_THREADS, count)) as pool:
                errors = list(pool.map(invoke, range(count)))
        failed = [str(i) for i, code in enumerate(errors) if code]
        if not failed:
            return
        # Workers that were never invoked are not live.
        dynamodb.update_item(TableName=self._table, Key=key,
                             UpdateExpression="DELETE pending :failed",
                             ExpressionAttributeValues={":failed": {"NS": failed}})
        codes = {code for code in errors if code}
        if codes <= set(_DENIED):
            # Code inside a job may not start workers (its role cannot invoke): the
            # scheduled reconciler starts them within a minute.
            logger.warning("cannot start Lambda workers for %s here; the reconciler will", fid)
        elif "ResourceNotFoundException" in codes:
            # No Lambda function for the environment (removed, or made before the target
            # existed): Batch runs the jobs instead.
            logger.warning("no Lambda function %s; starting %d workers on Batch", name,
                           len(failed))
            super().launch(function, len(failed))
        else:
            logger.warning("%d of %d Lambda invocations for %s failed: %s", len(failed), count,
                           fid, ", ".join(sorted(codes)))

    def _sized_for(self, name: str, function: dict[str, Any]) -> bool:
        """Whether the Lambda function exists with the memory the Function needs (it
        may have grown since its build), growing it if it can; its size is read once
        per process and function and remembered."""
        need = targets.lambda_memory(function["cpus"], function["memory"])
        if self._memory.get(name, 0) >= need:
            return True
        client = self.backend.client("lambda")
        try:
            size = int(client.get_function_configuration(FunctionName=name)["MemorySize"])
            if size < need:
                client.update_function_configuration(FunctionName=name, MemorySize=need)
                size = need
        except ClientError as exc:
            logger.warning("Lambda function %s cannot take a Function of %d MB (%s); "
                           "starting its workers on Batch", name, need,
                           exc.response["Error"]["Code"])
            return False
        self._memory[name] = size
        return True

    def kill_workers(self, function_id: str) -> None:
        """Forget the Function's Lambda workers (they leave on their own), then stop
        its Batch workers."""
        items = [i for i in self._items(function_id)
                 if i["sk"]["S"].startswith((LAUNCH + LAMBDA_LAUNCH, WORKER + LAMBDA_LAUNCH))]
        dynamodb = self.backend.client("dynamodb")
        for item in items:
            dynamodb.delete_item(TableName=self._table,
                                 Key={"pk": item["pk"], "sk": item["sk"]})
        super().kill_workers(function_id)
