"""The Lambda target in the stacks: the job Lambda role (the job role's rights and no
more), the handlers' and SDK users' Lambda rights scoped to the deployment's prefix, the
image pull grant, the outputs, and ``skyrun:lambda=false`` turning it all off."""

from __future__ import annotations

import json

from tests.infra.test_iam import _listed, _statements

LAMBDA_MANAGE = {"lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:InvokeFunction"}


def _actions(statements) -> set[str]:
    return {a for s in statements for a in _listed(s["Action"])}


def _without_sid(statements) -> list[str]:
    return sorted(json.dumps({k: v for k, v in s.items() if k != "Sid"}, sort_keys=True)
                  for s in statements)


def test_lambda_job_role_has_the_job_roles_rights_and_its_own_output(synth):
    roles = synth.by_path("compute", "AWS::IAM::Role")
    (role,) = [r for p, r in roles.items() if p.endswith("/WorkerRoles/LambdaJobRole/Resource")]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "ManagedPolicyArns" not in role["Properties"]
    job = _statements(synth, "compute", "/WorkerRoles/JobRole/")
    on_lambda = _statements(synth, "compute", "/WorkerRoles/LambdaJobRole/")
    extra = [s for s in on_lambda if s.get("Sid") == "LambdaOutput"]
    rest = [s for s in on_lambda if s.get("Sid") != "LambdaOutput"]
    assert _without_sid(rest) == _without_sid(job)
    (output,) = extra
    assert set(_listed(output["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert "log-group:/aws/lambda/skyrun-env-*" in json.dumps(output["Resource"])
    # Job code cannot start workers, builds or Lambda functions, nor pass roles.
    assert not any(a.startswith(("batch:", "codebuild:", "iam:", "lambda:"))
                   for a in _actions(on_lambda))


def test_handlers_manage_and_invoke_only_the_deployments_lambda_functions(synth):
    build = _statements(synth, "events", "/BuildFinished/Handler/Role/")
    assert LAMBDA_MANAGE <= _actions(build)
    reconcile = _statements(synth, "events", "/Reconciler/Handler/Role/")
    lambda_actions = {a for a in _actions(reconcile) if a.startswith("lambda:")}
    assert lambda_actions == {"lambda:InvokeFunction", "lambda:GetFunctionConfiguration"}
    for statement in build + reconcile:
        if any(a.startswith("lambda:") for a in _listed(statement["Action"])):
            (resource,) = _listed(statement["Resource"])
            assert ":function:skyrun-env-*" in json.dumps(resource), statement
    (passed,) = [s for s in build if s.get("Sid") == "PassLambdaRole"]
    assert "LambdaJobRole" in json.dumps(passed["Resource"])
    users = _statements(synth, "compute", "/SdkUsers/Policy/")
    assert LAMBDA_MANAGE <= _actions(users)


def test_lambda_may_pull_the_images_of_this_deployments_functions(synth):
    (repository,) = synth.of_type("images", "AWS::ECR::Repository").values()
    statements = repository["Properties"]["RepositoryPolicyText"]["Statement"]
    (grant,) = [s for s in statements if s.get("Sid") == "LambdaImageRetrieval"]
    assert grant["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert set(grant["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    assert ":function:skyrun-env-*" in json.dumps(grant["Condition"])


def test_lambda_outputs(synth):
    outputs = synth.raw("compute")["Outputs"]
    assert outputs["LambdaTarget"]["Value"] == "true"
    assert outputs["LambdaFunctionPrefix"]["Value"] == "skyrun-env-"
    assert "LambdaJobRole" in json.dumps(outputs["LambdaJobRoleArn"]["Value"])


def test_context_turns_the_lambda_target_off(variant):
    outputs = variant.raw("compute")["Outputs"]
    assert outputs["LambdaTarget"]["Value"] == "false"
    assert outputs["LambdaFunctionPrefix"]["Value"] == "team-a-env-"
    roles = variant.by_path("compute", "AWS::IAM::Role")
    assert not [p for p in roles if "LambdaJobRole" in p]
    for part in ("compute", "events"):
        policies = {**variant.of_type(part, "AWS::IAM::Policy"),
                    **variant.of_type(part, "AWS::IAM::ManagedPolicy")}
        assert policies
        for policy in policies.values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            assert not any(a.startswith("lambda:") for a in _actions(statements)), policy
    assert "LambdaImageRetrieval" not in json.dumps(variant.raw("images"))
