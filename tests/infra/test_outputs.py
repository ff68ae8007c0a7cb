"""The stack outputs are exactly those resources.py declares, in the stacks it says."""

from __future__ import annotations

import pytest

from skyrun.backends.aws import resources

# Outputs the CDK adds itself to carry cross-stack references.
_REFERENCE_OUTPUT_PREFIXES = ("PublishOutput", "ExportsOutput")


def _declared_outputs(synth, part):
    return {
        key: value
        for key, value in synth.raw(part).get("Outputs", {}).items()
        if not key.startswith(_REFERENCE_OUTPUT_PREFIXES)
    }


def test_outputs_are_exactly_the_declared_set(synth):
    found = {}
    for part in resources.STACK_PARTS:
        for key in _declared_outputs(synth, part):
            assert key not in found, f"{key} in both {found.get(key)} and {part}"
            found[key] = part
    assert found == resources.OUTPUTS


@pytest.mark.parametrize("part", resources.STACK_PARTS)
def test_each_stack_is_named_after_the_deployment(synth, part):
    stack = getattr(synth.deployment, part)
    assert stack.stack_name == resources.stack_name("skyrun", part)
    assert set(_declared_outputs(synth, part)) == set(resources.outputs_of(part))


def test_fixed_outputs_have_their_documented_values(synth):
    compute = _declared_outputs(synth, "compute")
    assert compute[resources.JOB_DEFINITION_PREFIX]["Value"] == "skyrun_"
    assert compute[resources.WORKER_ASSIGN_PUBLIC_IP]["Value"] == "ENABLED"
    data = _declared_outputs(synth, "data")
    logical = data[resources.JOB_LOG_GROUP_NAME]["Value"]["Ref"]
    group = synth.raw("data")["Resources"][logical]
    assert group["Properties"]["LogGroupName"] == "/skyrun/skyrun/jobs"


class _FakeCloudFormation:
    """describe_stacks over a dict of stack name -> outputs."""

    def __init__(self, stacks):
        self.stacks = stacks
        self.calls = []

    def describe_stacks(self, StackName):  # noqa: N803 - boto3's parameter name
        self.calls.append(StackName)
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.stacks[StackName].items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


def test_load_outputs_reads_every_stack_of_the_deployment():
    stacks = {name: {} for name in resources.stack_names("team-a")}
    for key, part in resources.OUTPUTS.items():
        stacks[resources.stack_name("team-a", part)][key] = f"value-of-{key}"
    stacks["team-a-data"]["PublishOutputRefSomething"] = "ignored"
    client = _FakeCloudFormation(stacks)
    outputs = resources.load_outputs(client, "team-a")
    assert outputs == {key: f"value-of-{key}" for key in resources.OUTPUTS}
    assert client.calls == resources.stack_names("team-a")


def test_load_outputs_names_what_is_missing():
    stacks = {name: {} for name in resources.stack_names("skyrun")}
    stacks["skyrun-data"][resources.BUCKET_NAME] = "b"
    with pytest.raises(LookupError, match="JobQueueArn") as raised:
        resources.load_outputs(_FakeCloudFormation(stacks), "skyrun")
    assert "BucketName" not in str(raised.value).split("lacks")[1].split(";")[0]


def test_outputs_travel_as_environment_variables():
    assert resources.environment_variable("BucketName") == "SKYRUN_BUCKET_NAME"
    assert resources.environment_variable("SdkUserPolicyArn") == "SKYRUN_SDK_USER_POLICY_ARN"
    names = [resources.environment_variable(k) for k in resources.OUTPUTS]
    assert len(set(names)) == len(names)
    environ = {"SKYRUN_BUCKET_NAME": "b", "SKYRUN_JOBS_TABLE_NAME": "j"}
    assert resources.outputs_from_environment(environ, ["BucketName", "JobsTableName"]) == {
        "BucketName": "b",
        "JobsTableName": "j",
    }
    with pytest.raises(LookupError, match="SKYRUN_BLOBS_TABLE_NAME"):
        resources.outputs_from_environment(environ, ["BlobsTableName"])
    with pytest.raises(KeyError):
        resources.environment_variable("NoSuchOutput")
