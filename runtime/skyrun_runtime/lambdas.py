"""Entry points of the Lambda functions deployed by the events stack (``infra/``).

``build_finished`` runs on every CodeBuild state change of the deployment's build
project that ends a build (succeeded, failed or stopped): it sets the Function built to
``ready`` (or ``stopped``) or ``build_failed``, registers its Batch job definition and
stores its build log blob.

``reconcile`` runs on an EventBridge schedule, once a minute: for every Function it makes
jobs whose lease expired claimable again (or settles those that lost too many workers),
and for a ready Function with runnable jobs it starts the workers that are missing.

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


def _reconcile(backend, event: dict[str, Any] | None = None) -> dict[str, Any]:
    from skyrun.backends.ports import FUNCTION
    from skyrun.compute import lifecycle

    reaped = launched = 0
    failed: list[str] = []
    for function in backend.store.query(FUNCTION, None, []):
        fid = function["id"]
        try:
            # Expired leases of any Function, stopped ones too: those jobs are requeued,
            # or end in failure once they lost too many workers; a ready Function gets
            # workers for them in the same step (replacing the lost ones at once).
            settled, started = lifecycle.reconcile(backend, function)
            reaped += settled
            launched += started
        except Exception:
            # One Function's trouble must not starve the others; the next tick retries.
            logger.exception("reconcile: Function %s", fid)
            failed.append(fid)
    result = {"reaped": reaped, "launched": launched, "failed": failed}
    logger.info("reconcile: %s", json.dumps(result))
    return result
