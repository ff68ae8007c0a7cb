"""Synthesize the deployment once per test session: the first synthesis costs seconds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import cx_api  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from skyrun_infra.deployment import Deployment, build_app  # noqa: E402


@dataclass
class Synthesized:
    """A synthesized deployment: its stacks, cloud assembly and templates by stack part."""

    deployment: Deployment
    assembly: cx_api.CloudAssembly
    outdir: Path

    def artifact(self, part: str) -> cx_api.CloudFormationStackArtifact:
        """The stack artifact of one part."""
        stack = getattr(self.deployment, part)
        return self.assembly.get_stack_artifact(stack.artifact_id)

    def template(self, part: str) -> Template:
        """The assertions template of one part."""
        return Template.from_json(self.artifact(part).template)

    def raw(self, part: str) -> dict:
        """The template of one part as plain JSON."""
        return self.artifact(part).template

    def of_type(self, part: str, type_: str) -> dict[str, dict]:
        """The resources of one CloudFormation type in a part, by logical id."""
        return {k: v for k, v in self.raw(part)["Resources"].items() if v["Type"] == type_}

    def by_path(self, part: str, type_: str) -> dict[str, dict]:
        """The resources of one CloudFormation type in a part, by construct path."""
        return {v["Metadata"]["aws:cdk:path"]: v for v in self.of_type(part, type_).values()}


def _synthesize(tmp: Path, context: dict) -> Synthesized:
    # The CLI turns construct path metadata on; the tests use it to find resources.
    context = {"aws:cdk:enable-path-metadata": True, **context}
    app, deployment = build_app(context, outdir=str(tmp))
    return Synthesized(deployment, app.synth(), tmp)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The deployment with default settings."""
    return _synthesize(tmp_path_factory.mktemp("cdk-default"), {})


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A deployment named ``team-a``, Spot off, a 64-vCPU ceiling, the Lambda target off;
    values given as the CLI gives them (strings)."""
    return _synthesize(
        tmp_path_factory.mktemp("cdk-variant"),
        {
            "skyrun:prefix": "team-a",
            "skyrun:spot": "false",
            "skyrun:maxVcpus": "64",
            "skyrun:lambda": "false",
        },
    )
