"""Entry points of the Lambda functions deployed by the events stack (``infra/``).

``build_finished`` runs on every CodeBuild state change of the deployment's build
project that ends a build (succeeded, failed or stopped). ``reconcile`` runs on an
EventBridge schedule, once a minute.

These are entry points only: for now each one logs the event it receives and returns
without acting on it. What they are to do, which the AWS backend provides:

* ``build_finished``: set the functions waiting on the build's environment to ``ready``
  (or ``stopped``) or ``build_failed``, register their Batch job definitions, and store
  the build log blob;
* ``reconcile``: relaunch workers for functions that have runnable jobs and no live
  worker, and make jobs whose lease expired claimable again.

The deployment's resource names reach these functions as environment variables named
by :func:`skyrun.backends.aws.resources.environment_variable`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)
# The Lambda runtime installs a handler on the root logger; the level still defaults
# to WARNING, which would hide the records below.
logger.setLevel(logging.INFO)


def build_finished(event: dict[str, Any], context: Any) -> None:
    """Handle a CodeBuild "Build State Change" event; logs it and does nothing else yet."""
    detail = event.get("detail", {}) if isinstance(event, dict) else {}
    logger.info(
        "build finished: project=%s status=%s event=%s",
        detail.get("project-name"),
        detail.get("build-status"),
        json.dumps(event, default=str),
    )


def reconcile(event: dict[str, Any], context: Any) -> None:
    """Handle one scheduled reconciliation tick; logs it and does nothing else yet."""
    logger.info("reconcile tick: event=%s", json.dumps(event, default=str))
