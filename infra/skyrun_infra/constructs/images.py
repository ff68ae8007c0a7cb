"""Images: the ECR repository, the CodeBuild project that builds into it, and the
deploy-time build of the base images, so that no Docker is needed where ``cdk deploy``
runs."""

from __future__ import annotations

import hashlib
import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from skyrun.backends.aws import resources
from skyrun_infra import sources
from skyrun_infra.buildspec import REPOSITORY_URI, build_spec
from skyrun_infra.constructs.data import LOG_RETENTION


class ImageRepository(Construct):
    """The ECR repository of base and function images, scanned on push.

    Images can always be rebuilt, so the repository is emptied and removed with the
    deployment. Base image tags are overwritten when skyrun is updated, which leaves
    untagged images behind; the lifecycle rule removes them.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.MUTABLE,
            removal_policy=RemovalPolicy.DESTROY,
            empty_on_delete=True,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Remove images untagged by a rebuild after a week",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                )
            ],
        )


class ImageBuildProject(Construct):
    """The CodeBuild project that builds base and function images (see ``buildspec``).

    Its source is a staged copy of the skyrun sources (``sources.build_context``), so a
    base image holds the deployed version of the runtime.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        repository: ecr.IRepository,
        bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.source = s3_assets.Asset(self, "Source", path=str(sources.build_context()))
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=resources.log_group_name(deployment, resources.BUILD_LOGS),
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.spec = build_spec()
        self.project = codebuild.Project(
            self,
            "Project",
            description=f"Builds the base and function images of skyrun deployment {deployment}",
            source=codebuild.Source.s3(bucket=self.source.bucket, path=self.source.s3_object_key),
            build_spec=codebuild.BuildSpec.from_object(self.spec),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.SMALL,
                # Building container images needs the Docker daemon.
                privileged=True,
            ),
            environment_variables={
                REPOSITORY_URI: codebuild.BuildEnvironmentVariable(value=repository.repository_uri),
                resources.BUILD_KIND: codebuild.BuildEnvironmentVariable(
                    value=resources.BUILD_KIND_BASE
                ),
                resources.BUILD_PYTHON_VERSIONS: codebuild.BuildEnvironmentVariable(
                    value=" ".join(resources.PYTHON_VERSIONS)
                ),
            },
            timeout=Duration.hours(1),
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)
            ),
        )
        repository.grant_pull_push(self.project)
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadBuildInputs",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{resources.BUILDS_PREFIX}*")],
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.project,
            [
                {
                    "id": "AwsSolutions-CB3",
                    "reason": "The project builds container images, which needs the "
                    "Docker daemon and so privileged mode.",
                },
                {
                    "id": "AwsSolutions-CB4",
                    "reason": "The project has no artifacts (images go to ECR, encrypted "
                    "there); a customer managed KMS key would add a monthly cost to every "
                    "deployment for nothing.",
                },
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.project.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Wildcards are limited to this project's own log streams and "
                    "reports, the build inputs under builds/ in this deployment's bucket, "
                    "the CDK asset objects of the source, and ecr:GetAuthorizationToken, "
                    "which supports no resource.",
                }
            ],
            apply_to_children=True,
        )

    @property
    def fingerprint(self) -> str:
        """A hash of what a base build depends on: the sources and the build spec."""
        material = json.dumps(
            [self.source.asset_hash, self.spec, list(resources.PYTHON_VERSIONS)],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:32]


class BaseImageBuild(Construct):
    """Starts a base image build when the stack is created and whenever the sources or the
    build spec change, with CodeBuild's StartBuild called by a custom resource.

    Deployment does not wait for the build; a function build that finds no base image
    builds it itself, so this only makes the first function build faster.
    """

    def __init__(self, scope: Construct, construct_id: str, *, build: ImageBuildProject) -> None:
        super().__init__(scope, construct_id)
        start_build = cr.AwsSdkCall(
            service="CodeBuild",
            action="startBuild",
            parameters={
                "projectName": build.project.project_name,
                "environmentVariablesOverride": [
                    {
                        "name": resources.BUILD_KIND,
                        "value": resources.BUILD_KIND_BASE,
                        "type": "PLAINTEXT",
                    },
                    {
                        "name": resources.BUILD_PYTHON_VERSIONS,
                        "value": " ".join(resources.PYTHON_VERSIONS),
                        "type": "PLAINTEXT",
                    },
                ],
                # Changes with the sources and the build spec, which makes CloudFormation
                # update this resource (and so start a build) exactly then.
                "idempotencyToken": build.fingerprint,
            },
            physical_resource_id=cr.PhysicalResourceId.from_response("build.id"),
        )
        self.resource = cr.AwsCustomResource(
            self,
            "StartBuild",
            on_create=start_build,
            on_update=start_build,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["codebuild:StartBuild"],
                        resources=[build.project.project_arn],
                    )
                ]
            ),
            # The SDK bundled with the Lambda runtime has StartBuild; installing the
            # latest one would need npm at deploy time.
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(2),
        )
        stack = Stack.of(self)
        # The custom resource provider is a singleton function at the stack's root.
        provider = stack.node.try_find_child(
            "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
        )
        if provider is not None:
            NagSuppressions.add_resource_suppressions(
                provider,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "The CDK custom resource provider writes its own logs "
                        "with AWSLambdaBasicExecutionRole; it handles no data.",
                    },
                ],
                apply_to_children=True,
            )
