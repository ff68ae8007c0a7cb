"""Identity from STS, finding the deployment, and the SDK on the AWS backend."""

from __future__ import annotations

import json

import boto3
import pytest

from skyrun.auth import Auth
from skyrun.backends.aws import resources as res
from skyrun.backends.aws.backend import AwsBackend
from skyrun.backends.aws.identity import account_of, principal_name
from skyrun.catalog import Blob, StorageType
from skyrun.catalog import properties as p
from skyrun.compute import ComputeClient
from skyrun.exceptions import ValidationError
from tests.stores import MOTO_ACCOUNT, MOTO_USER


@pytest.mark.parametrize("arn, name", [
    ("arn:aws:iam::123456789012:user/alice", "alice"),
    ("arn:aws:iam::123456789012:user/division/team/alice", "alice"),
    ("arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com", "alice@example.com"),
    ("arn:aws:sts::123456789012:assumed-role/path/Admin/i-0abc", "i-0abc"),
    ("arn:aws:sts::123456789012:federated-user/bob", "bob"),
    ("arn:aws:iam::123456789012:root", "root"),
    ("arn:aws-cn:iam::123456789012:user/li", "li"),
])
def test_principal_names(arn, name):
    assert principal_name(arn) == name
    assert account_of(arn) == "123456789012"


def test_principal_name_rejects_non_arns():
    with pytest.raises(ValueError):
        principal_name("alice")


@pytest.fixture
def no_identity_variables(monkeypatch):
    monkeypatch.delenv("SKYRUN_ORG", raising=False)
    monkeypatch.delenv("SKYRUN_USER", raising=False)


def test_auth_on_aws_comes_from_sts(moto, no_identity_variables):
    auth = Auth(backend="aws")
    assert auth.payload["org"] == MOTO_ACCOUNT and auth.namespace == MOTO_USER
    assert auth.full_namespace == f"{MOTO_ACCOUNT}:{MOTO_USER}"


def test_auth_of_a_role_session_scenario_41(moto, no_identity_variables, monkeypatch):
    sts = boto3.client("sts")
    role = f"arn:aws:iam::{MOTO_ACCOUNT}:role/Developer"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="alice@example.com")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    assert Auth(backend="aws").full_namespace == "123456789012:alice_example.com"


def test_explicit_identity_wins_on_aws(moto, monkeypatch):
    monkeypatch.setenv("SKYRUN_ORG", "acme")
    monkeypatch.setenv("SKYRUN_USER", "j doe")
    assert Auth(backend="aws").full_namespace == "acme:j_doe"
    monkeypatch.delenv("SKYRUN_ORG")
    assert Auth(backend="aws").full_namespace == f"{MOTO_ACCOUNT}:j_doe"


def test_local_identity_is_unchanged(monkeypatch):
    monkeypatch.setenv("SKYRUN_ORG", "acme")
    monkeypatch.setenv("SKYRUN_USER", "j doe")
    assert Auth().full_namespace == "acme:j_doe"
    monkeypatch.delenv("SKYRUN_ORG")
    assert Auth(backend="local").payload["org"] == "local"


# -- finding the deployment -------------------------------------------------------------
def all_outputs(aws_outputs: dict) -> dict:
    """Every output: the test deployment's data stack, placeholders for the rest."""
    return {key: aws_outputs.get(key, f"placeholder-{key}") for key in res.OUTPUTS}


def test_job_environment_round_trips(aws_backend, aws_outputs, monkeypatch):
    backend = AwsBackend(all_outputs(aws_outputs), "skytest")
    env = backend.job_environment()
    assert env["SKYRUN_BACKEND"] == "aws" and env["SKYRUN_STACK"] == "skytest"
    assert env["SKYRUN_BUCKET_NAME"] == aws_outputs[res.BUCKET_NAME]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = AwsBackend.from_environment()
    assert found.outputs == backend.outputs and found.deployment == "skytest"


def test_a_missing_deployment_names_skyrun_stack(moto, monkeypatch, tmp_path):
    monkeypatch.setenv("SKYRUN_HOME", str(tmp_path))
    monkeypatch.delenv("SKYRUN_STACK", raising=False)
    with pytest.raises(ValidationError, match="SKYRUN_STACK"):
        AwsBackend.from_environment()
    monkeypatch.setenv("SKYRUN_STACK", "nosuch")
    with pytest.raises(ValidationError, match="'nosuch' was not found"):
        AwsBackend.from_environment()
    monkeypatch.setenv("SKYRUN_STACK", "Bad_Name")
    with pytest.raises(ValidationError, match="SKYRUN_STACK"):
        AwsBackend.from_environment()


def deploy_fake_stacks(deployment: str, outputs: dict) -> None:
    """Stacks that carry the given outputs, as the CDK app's would."""
    cloudformation = boto3.client("cloudformation")
    for part in res.STACK_PARTS:
        template = {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {key: {"Value": outputs[key]} for key in res.outputs_of(part)},
        }
        cloudformation.create_stack(StackName=res.stack_name(deployment, part),
                                    TemplateBody=json.dumps(template))


def test_outputs_come_from_the_stacks_named_in_the_config_file(aws_outputs, monkeypatch,
                                                                 tmp_path):
    outputs = all_outputs(aws_outputs)
    deploy_fake_stacks("skycfn", outputs)
    monkeypatch.setenv("SKYRUN_HOME", str(tmp_path))
    monkeypatch.delenv("SKYRUN_STACK", raising=False)
    (tmp_path / "config.json").write_text(json.dumps({"stack": "skycfn"}))
    backend = AwsBackend.from_environment()
    assert backend.deployment == "skycfn" and backend.outputs == outputs


# -- the SDK on AWS ---------------------------------------------------------------------
def test_compute_client_on_aws(aws_outputs, monkeypatch, no_identity_variables):
    for name, value in AwsBackend(all_outputs(aws_outputs), "skytest").job_environment().items():
        monkeypatch.setenv(name, value)
    client = ComputeClient(backend="aws")
    assert client.namespace == f"{MOTO_ACCOUNT}:{MOTO_USER}"
    assert isinstance(client.backend, AwsBackend)
    assert ComputeClient(backend="aws").backend is client.backend  # cached
    blob = Blob(name="results/one.json", client=client).upload_data(b'{"x": 1}')
    assert blob.href == f"s3://{aws_outputs[res.BUCKET_NAME]}/{blob.id}"
    assert blob.namespace == client.namespace
    assert Blob.get(name="results/one.json", client=client).data() == b'{"x": 1}'
    found = Blob.search(client=client).filter(p.namespace == client.namespace).filter(
        p.storage_type == StorageType.DATA).filter(p.name.startswith("results/")).collect()
    assert [b.id for b in found] == [blob.id]
    assert Blob.delete(blob.id, client=client) is True
    assert Blob.get(name="results/one.json", client=client) is None
