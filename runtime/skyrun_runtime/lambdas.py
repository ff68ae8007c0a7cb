"""Entry points of the Lambda functions deployed by the events stack (``infra/``).

``build_finished`` runs on every CodeBuild state change of the deployment's build
project that ends a build (succeeded, failed or stopped): it sets the Function built to
``ready`` (or ``stopped``) or ``build_failed``, registers its Batch job definition and
stores its build log blob.

``reconcile`` runs on an EventBridge schedule, once a minute: for every Function it makes
jobs whose lease expired claimable again (or settles those that lost too many workers),
and for a ready Function with runnable jobs it starts the workers that are missing. A
Function found with no runnable or active job is marked idle and skipped until jobs are
added to it or rerun (see ``AwsStore.mark_idle``).

Each handler builds its backend from the environment (the deployment's resource names
arrive as the variables :func:`skyrun.backends.aws.resources.environment_variable`
names) and hands it to a ``_``-prefixed function that does the work, which tests and
the offline sandbox call with a backend of their own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)
# The Lambda runtime installs a handler on the root logger; the level still defaults
# to WARNING, which would hide the records below.
logger.setLevel(logging.INFO)


def _backend():
    from skyrun.backends.aws.backend import AwsBackend

    return AwsBackend.from_environment()


def build_finished(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Handle a CodeBuild "Build State Change" event of a finished build."""
    return _build_finished(_backend(), event)


def _build_finished(backend, event: dict[str, Any]) -> dict[str, Any]:
    from skyrun.backends.aws.builder import finish_from_event

    detail = event.get("detail", {}) if isinstance(event, dict) else {}
    logger.info("build finished: project=%s status=%s build=%s", detail.get("project-name"),
                detail.get("build-status"), detail.get("build-id"))
    record = finish_from_event(backend, event)
    result = {"function_id": record["id"] if record else None,
              "status": record["status"] if record else None}
    logger.info("build finished: %s", json.dumps(result))
    return result


def reconcile(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Handle one scheduled reconciliation tick."""
    return _reconcile(_backend(), event)


#: A Function is marked idle only when its jobs were last added or rerun this long ago:
#: the index that counts them by status may lag a write by a moment.
IDLE_AFTER_SECONDS = 30.0


def _reconcile(backend, event: dict[str, Any] | None = None,
               idle_after: float = IDLE_AFTER_SECONDS) -> dict[str, Any]:
    import time

    from skyrun.domain.statuses import ACTIVE_STATUSES
    from skyrun.engine import lifecycle

    reaped = launched = visited = idled = 0
    failed: list[str] = []
    # Functions marked idle (no runnable or active job since their last batch or rerun)
    # are skipped: a deployment's finished Functions cost nothing per tick.
    for function, epoch, since in backend.store.functions_to_reconcile():
        fid = function["id"]
        visited += 1
        try:
            counts = backend.store.count_by_status([fid]).get(fid, {})
            # Expired leases of any Function, stopped ones too: those jobs are requeued,
            # or end in failure once they lost too many workers; a ready Function gets
            # workers for them in the same step (replacing the lost ones at once).
            settled, started = lifecycle.reconcile(backend, function, counts)
            reaped += settled
            launched += started
            open_jobs = counts.get("pending", 0) + sum(counts.get(s, 0) for s in ACTIVE_STATUSES)
            if (not settled and not open_jobs and time.time() - since >= idle_after
                    and backend.store.mark_idle(fid, epoch)):
                idled += 1
        except Exception:
            # One Function's trouble must not starve the others; the next tick retries.
            logger.exception("reconcile: Function %s", fid)
            failed.append(fid)
    result = {"reaped": reaped, "launched": launched, "failed": failed,
              "visited": visited, "idled": idled}
    logger.info("reconcile: %s", json.dumps(result))
    return result
