"""Settings from the CDK context: prefix, vCPU ceiling, Spot, existing VPC."""

from __future__ import annotations

import pytest

from skyrun.backends.aws import resources
from skyrun_infra.settings import Settings


def test_spot_off_leaves_only_on_demand_fargate(variant):
    environments = variant.of_type("compute", "AWS::Batch::ComputeEnvironment").values()
    kinds = [e["Properties"]["ComputeResources"]["Type"] for e in environments]
    assert kinds == ["FARGATE"]
    (queue,) = variant.of_type("compute", "AWS::Batch::JobQueue").values()
    assert len(queue["Properties"]["ComputeEnvironmentOrder"]) == 1
    outputs = variant.raw("compute")["Outputs"]
    # With one queue, both queue outputs name it.
    assert outputs["JobQueueArn"]["Value"] == outputs["OnDemandJobQueueArn"]["Value"]


def test_vcpu_ceiling_comes_from_the_context(variant):
    for e in variant.of_type("compute", "AWS::Batch::ComputeEnvironment").values():
        assert e["Properties"]["ComputeResources"]["MaxvCpus"] == 64


def test_prefix_renames_stacks_log_groups_and_job_definitions(variant):
    assert [s.stack_name for s in variant.deployment.stacks] == resources.stack_names("team-a")
    groups = {
        g["Properties"]["LogGroupName"]
        for part in resources.STACK_PARTS
        for g in variant.of_type(part, "AWS::Logs::LogGroup").values()
        if isinstance(g["Properties"].get("LogGroupName"), str)
    }
    assert {"/skyrun/team-a/jobs", "/skyrun/team-a/workers", "/skyrun/team-a/builds"} <= groups
    assert not any("/skyrun/skyrun/" in g for g in groups)
    outputs = variant.raw("compute")["Outputs"]
    assert outputs["JobDefinitionPrefix"]["Value"] == "team-a_"
    policy = str(variant.of_type("compute", "AWS::IAM::ManagedPolicy"))
    assert "job-definition/team-a_*" in policy and "stack/team-a-data/*" in policy
    (function, _) = variant.of_type("events", "AWS::Lambda::Function").values()
    assert function["Properties"]["Environment"]["Variables"]["SKYRUN_STACK"] == "team-a"


def test_defaults():
    settings = Settings()
    assert (settings.prefix, settings.max_vcpus, settings.spot, settings.vpc_id) == (
        "skyrun",
        256,
        True,
        None,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_vcpus": 8}, "at least 16"),
        ({"prefix": "Team_A"}, "lower-case"),
        ({"prefix": "a" * 21}, "1-20"),
        ({"private_subnets": True}, "needs skyrun:vpcId"),
    ],
)
def test_invalid_settings_are_refused_with_the_rule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs)


def test_context_strings_are_parsed_and_bad_ones_refused():
    class Node:
        def __init__(self, context):
            self.context = context

        def try_get_context(self, key):
            return self.context.get(key)

    settings = Settings.from_context(
        Node({"skyrun:spot": "No", "skyrun:maxVcpus": " 32 ", "skyrun:vpcId": "vpc-1"})
    )
    assert (settings.spot, settings.max_vcpus, settings.vpc_id) == (False, 32, "vpc-1")
    with pytest.raises(ValueError, match="not a boolean"):
        Settings.from_context(Node({"skyrun:spot": "maybe"}))
    with pytest.raises(ValueError, match="not a whole number"):
        Settings.from_context(Node({"skyrun:maxVcpus": "lots"}))


def test_an_existing_vpc_needs_the_target_environment(monkeypatch):
    from skyrun_infra.deployment import build_app

    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    with pytest.raises(ValueError, match="account and region"):
        build_app({"skyrun:vpcId": "vpc-0123456789abcdef0"})
