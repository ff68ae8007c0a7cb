"""The images stack: repository, build project, deploy-time base build."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from skyrun.backends.aws import resources


def test_repository_scans_on_push_and_expires_untagged_images(synth):
    (repository,) = synth.of_type("images", "AWS::ECR::Repository").values()
    props = repository["Properties"]
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["EmptyOnDelete"] is True
    policy = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])
    (rule,) = policy["rules"]
    assert rule["selection"]["tagStatus"] == "untagged"
    assert rule["action"] == {"type": "expire"}


def test_build_project_builds_images_with_docker_from_the_staged_sources(synth):
    (project,) = synth.of_type("images", "AWS::CodeBuild::Project").values()
    props = project["Properties"]
    assert props["Environment"]["PrivilegedMode"] is True
    assert props["Source"]["Type"] == "S3"
    variables = {v["Name"]: v["Value"] for v in props["Environment"]["EnvironmentVariables"]}
    assert variables[resources.BUILD_KIND] == resources.BUILD_KIND_BASE
    assert variables[resources.BUILD_PYTHON_VERSIONS] == "3.10 3.11 3.12 3.13"
    assert "REPOSITORY_URI" in variables
    spec = props["Source"]["BuildSpec"]
    assert "docker build -f runtime/Dockerfile" in spec
    assert "$REPOSITORY_URI:python$1" in spec  # resources.base_image_tag
    assert "$SKYRUN_IMAGE_TAG" in spec and "$SKYRUN_REQUIREMENTS_URI" in spec
    logs = props["LogsConfig"]["CloudWatchLogs"]
    assert logs["Status"] == "ENABLED"


def test_build_source_holds_what_the_dockerfile_copies(synth):
    asset_dirs = [p for p in synth.outdir.iterdir() if (p / "runtime" / "Dockerfile").is_file()]
    assert len(asset_dirs) == 1
    source = asset_dirs[0]
    assert (source / "pyproject.toml").is_file()
    assert (source / "sdk" / "skyrun" / "backends" / "aws" / "resources.py").is_file()
    assert not (source / "node_modules").exists() and not (source / "tests").exists()


def test_base_images_are_built_on_deploy_by_a_custom_resource(synth):
    template = synth.template("images")
    template.resource_count_is("Custom::AWS", 1)
    (resource,) = synth.of_type("images", "Custom::AWS").values()
    create = resource["Properties"]["Create"]
    assert resource["Properties"]["Update"] == create
    # The call is serialized with tokens (the project name) joined in.
    text = json.dumps(create)
    assert '\\"service\\":\\"CodeBuild\\"' in text and '\\"action\\":\\"startBuild\\"' in text
    assert resources.BUILD_KIND in text and "3.10 3.11 3.12 3.13" in text
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like({"Action": "codebuild:StartBuild", "Effect": "Allow"})
                ]
            }
        },
    )


def test_build_role_reads_only_build_inputs_from_the_bucket(synth):
    policies = synth.by_path("images", "AWS::IAM::Policy")
    (policy,) = [p for path, p in policies.items() if "/Build/Project/" in path]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (inputs,) = [s for s in statements if s.get("Sid") == "ReadBuildInputs"]
    assert inputs["Action"] == "s3:GetObject"
    assert inputs["Resource"]["Fn::Join"][1][-1] == "/builds/*"
