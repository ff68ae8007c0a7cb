"""Least privilege: the worker roles, the SDK users' policy, the handlers' roles."""

from __future__ import annotations

import json

import pytest

from skyrun.backends.aws import resources

DATA_SERVICES = ("s3:", "dynamodb:", "logs:")


def _statements(synth, part: str, path_part: str) -> list[dict]:
    found = [
        p
        for path, p in {
            **synth.by_path(part, "AWS::IAM::Policy"),
            **synth.by_path(part, "AWS::IAM::ManagedPolicy"),
        }.items()
        if path_part in path
    ]
    assert len(found) == 1, path_part
    return found[0]["Properties"]["PolicyDocument"]["Statement"]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _data_statements(statements):
    return [s for s in statements if any(a.startswith(DATA_SERVICES) for a in _listed(s["Action"]))]


def _assert_scoped_to_data_stack(statements, stack="skyrun-data"):
    data = _data_statements(statements)
    assert data
    for statement in data:
        assert statement["Effect"] == "Allow"
        for resource in _listed(statement["Resource"]):
            assert resource != "*", statement
            # A reference to a resource of this deployment's data stack.
            assert stack in json.dumps(resource), statement
        for action in _listed(statement["Action"]):
            assert "*" not in action, statement


def test_job_role_reaches_only_this_deployments_data(synth):
    statements = _statements(synth, "compute", "/WorkerRoles/JobRole/")
    _assert_scoped_to_data_stack(statements)
    actions = {a for s in statements for a in _listed(s["Action"])}
    assert {"s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem", "dynamodb:Query"} <= actions
    assert {"logs:PutLogEvents", "logs:GetLogEvents"} <= actions
    # No way to start builds or workers from job code.
    assert not any(a.startswith(("batch:", "codebuild:", "iam:")) for a in actions)
    (ecr,) = [s for s in statements if s["Action"] == "ecr:DescribeImages"]
    assert "skyrun-images" in json.dumps(ecr["Resource"])
    (outputs,) = [s for s in statements if s["Action"] == "cloudformation:DescribeStacks"]
    names = json.dumps(outputs["Resource"])
    for name in resources.stack_names("skyrun"):
        assert f":stack/{name}/*" in names


def test_job_role_logs_only_to_the_job_log_group(synth):
    statements = _statements(synth, "compute", "/WorkerRoles/JobRole/")
    (logs,) = [s for s in statements if s.get("Sid") == "JobLogs"]
    (resource,) = _listed(logs["Resource"])
    # The job log group, not the worker group.
    assert "JobLogs" in json.dumps(resource) and "WorkerLogs" not in json.dumps(resource)


def test_roles_are_assumed_by_ecs_tasks(synth):
    roles = synth.by_path("compute", "AWS::IAM::Role")
    for suffix in ("/WorkerRoles/JobRole/Resource", "/WorkerRoles/ExecutionRole/Resource"):
        (role,) = [r for p, r in roles.items() if p.endswith(suffix)]
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert "ManagedPolicyArns" not in role["Properties"]


def test_execution_role_pulls_images_and_writes_worker_output(synth):
    statements = _statements(synth, "compute", "/WorkerRoles/ExecutionRole/")
    actions = {a for s in statements for a in _listed(s["Action"])}
    assert {"ecr:BatchGetImage", "ecr:GetAuthorizationToken"} <= actions
    assert not any(a.startswith(("s3:", "dynamodb:")) for a in actions)
    (logs,) = [s for s in statements if s.get("Sid") == "WorkerLogs"]
    assert "WorkerLogs" in json.dumps(logs["Resource"])


def test_sdk_user_policy_is_scoped_and_exposed(synth):
    statements = _statements(synth, "compute", "/SdkUsers/Policy/")
    # The Lambda log groups are made with the job Lambda functions (tests/infra/test_lambda.py).
    _assert_scoped_to_data_stack(
        [s for s in statements if s.get("Sid") not in ("ReadLogs", "LambdaWorkerLogGroups")]
    )
    by_sid = {s["Sid"]: s for s in statements}
    assert set(_listed(by_sid["SubmitWorkers"]["Action"])) == {"batch:SubmitJob"}
    submit = json.dumps(by_sid["SubmitWorkers"]["Resource"])
    assert "job-definition/skyrun_*" in submit
    assert "job-definition/skyrun_*" in json.dumps(by_sid["RegisterJobDefinitions"]["Resource"])
    assert "skyrun-images" in json.dumps(by_sid["BuildImages"]["Resource"])
    passed = _listed(by_sid["PassWorkerRoles"]["Resource"])
    assert len(passed) == 2 and "*" not in json.dumps(passed)
    # Only the actions without resource-level permissions have a "*" resource.
    star = {a for s in statements if s["Resource"] == "*" for a in _listed(s["Action"])}
    assert star == {"batch:DescribeJobDefinitions", "batch:DescribeJobs", "batch:ListJobs"}
    assert "SdkUserPolicyArn" in synth.raw("compute")["Outputs"]


@pytest.mark.parametrize("handler", ["BuildFinished", "Reconciler"])
def test_handler_roles_are_scoped(synth, handler):
    statements = _statements(synth, "events", f"/{handler}/Handler/Role/")
    data = [
        s
        for s in statements
        if s.get("Sid") not in ("OwnLogs", "ReadBuildLogs", "LambdaWorkerLogGroups")
    ]
    _assert_scoped_to_data_stack(data)
    (own,) = [s for s in statements if s.get("Sid") == "OwnLogs"]
    assert "Logs" in json.dumps(own["Resource"]) and own["Resource"] != "*"
    actions = {a for s in statements for a in _listed(s["Action"])}
    if handler == "BuildFinished":
        # It registers the job definition, then starts workers for the waiting jobs.
        assert {"batch:RegisterJobDefinition", "iam:PassRole", "batch:SubmitJob"} <= actions
    else:
        assert "batch:SubmitJob" in actions
        assert "batch:RegisterJobDefinition" not in actions and "iam:PassRole" not in actions


def test_no_role_uses_an_aws_managed_policy_except_the_cdk_providers(synth):
    for part in resources.STACK_PARTS:
        for path, role in synth.by_path(part, "AWS::IAM::Role").items():
            if "ManagedPolicyArns" in role["Properties"]:
                assert "AWS679f53fac002430cb0da5b7982bd2287" in path or "Custom::" in path, path
