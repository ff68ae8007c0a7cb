"""One deployment as a CDK app: its four stacks built from its settings, with the cdk-nag
checks."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from skyrun_infra import sources
from skyrun_infra.settings import VPC_ID, Settings
from skyrun_infra.stacks import ComputeStack, DataStack, EventsStack, ImagesStack

CDK_JSON = sources.REPO_ROOT / "cdk.json"
TAG = "skyrun:deployment"


@dataclass
class Deployment:
    """The stacks of one deployment, in deployment order."""

    settings: Settings
    data: DataStack
    images: ImagesStack
    compute: ComputeStack
    events: EventsStack

    @property
    def stacks(self) -> list[cdk.Stack]:
        """The four stacks, in deployment order."""
        return [self.data, self.images, self.compute, self.events]


def cdk_json_context() -> dict[str, Any]:
    """The context of ``cdk.json`` (feature flags), which the CLI passes to the app; an
    app built in-process (tests) adds it itself to synthesize the same templates."""
    return dict(json.loads(CDK_JSON.read_text())["context"])


def _environment(settings: Settings) -> cdk.Environment | None:
    # Without an existing VPC the stacks are environment-agnostic: they deploy to the
    # account and region of the caller's credentials, and synthesize with no lookup.
    if not settings.vpc_id:
        return None
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    if not account or not region:
        raise ValueError(
            f"context {VPC_ID} needs the target account and region to look the VPC up; run "
            "cdk with AWS credentials and a region configured"
        )
    return cdk.Environment(account=account, region=region)


def build_deployment(app: cdk.App, settings: Settings | None = None) -> Deployment:
    """Add the four stacks of a deployment to ``app`` (settings default to its context)."""
    settings = settings or Settings.from_context(app.node)
    env = _environment(settings)
    data = DataStack(app, settings, env=env)
    images = ImagesStack(app, settings, data=data, env=env)
    compute = ComputeStack(app, settings, data=data, images=images, env=env)
    events = EventsStack(app, settings, data=data, images=images, compute=compute, env=env)
    cdk.Tags.of(app).add(TAG, settings.prefix)
    return Deployment(settings, data, images, compute, events)


def add_checks(app: cdk.App) -> None:
    """Check every stack against cdk-nag's AwsSolutions pack when it is synthesized."""
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[cdk.App, Deployment]:
    """An app with ``cdk.json``'s context plus ``context``, its deployment and the checks."""
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    deployment = build_deployment(app)
    add_checks(app)
    return app, deployment
