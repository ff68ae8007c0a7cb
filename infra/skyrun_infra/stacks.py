"""The four stacks of a deployment. They only wire constructs together and declare the
outputs named in :mod:`skyrun.backends.aws.resources`."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack, aws_iam
from constructs import Construct

from skyrun.backends.aws import resources as r
from skyrun_infra.constructs import iam
from skyrun_infra.constructs.compute import BatchCompute
from skyrun_infra.constructs.data import DataStore
from skyrun_infra.constructs.events import BuildFinishedHandler, Reconciler
from skyrun_infra.constructs.images import BaseImageBuild, ImageBuildProject, ImageRepository
from skyrun_infra.constructs.network import WorkerNetwork
from skyrun_infra.settings import Settings


class SkyrunStack(Stack):
    """A stack of a deployment: named ``{prefix}-{part}``, with outputs checked against
    :data:`skyrun.backends.aws.resources.OUTPUTS`."""

    part: str = ""

    def __init__(self, scope: Construct, settings: Settings, **kwargs: Any) -> None:
        name = r.stack_name(settings.prefix, self.part)
        super().__init__(scope, name, stack_name=name, **kwargs)
        self.settings = settings
        #: The value of each output this stack declares, by output key.
        self.output_values: dict[str, str] = {}

    def output(self, key: str, value: str, description: str) -> None:
        """Declare an output; only the keys ``resources.OUTPUTS`` assigns to this stack."""
        if r.OUTPUTS.get(key) != self.part:
            raise ValueError(f"output {key!r} is not declared for the {self.part} stack")
        CfnOutput(self, key, value=value, description=description)
        self.output_values[key] = value


class DataStack(SkyrunStack):
    """The bucket, tables and log groups."""

    part = r.DATA

    def __init__(self, scope: Construct, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, settings, description=f"skyrun {settings.prefix}: state", **kwargs)
        self.store = DataStore(self, "Data", deployment=settings.prefix)
        self.output(r.BUCKET_NAME, self.store.bucket.bucket_name, "Blob data")
        for spec in r.TABLES:
            self.output(
                spec.output_key, self.store.state.table(spec).table_name, f"The {spec.name} table"
            )
        logs = self.store.log_groups
        self.output(r.JOB_LOG_GROUP_NAME, logs.job_logs.log_group_name, "Job logs")
        self.output(r.WORKER_LOG_GROUP_NAME, logs.worker_logs.log_group_name, "Worker output")


class ImagesStack(SkyrunStack):
    """The image repository, the build project, and the deploy-time base image build."""

    part = r.IMAGES

    def __init__(
        self, scope: Construct, settings: Settings, *, data: DataStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, settings, description=f"skyrun {settings.prefix}: images", **kwargs)
        self.repository = ImageRepository(self, "Images").repository
        self.build = ImageBuildProject(
            self,
            "Build",
            deployment=settings.prefix,
            repository=self.repository,
            bucket=data.store.bucket,
        )
        BaseImageBuild(self, "BaseImages", build=self.build)
        if settings.lambda_target:
            # Lambda pulls the images of the job Lambda functions with this grant,
            # limited to this deployment's functions.
            self.repository.add_to_resource_policy(
                aws_iam.PolicyStatement(
                    sid="LambdaImageRetrieval",
                    principals=[aws_iam.ServicePrincipal("lambda.amazonaws.com")],
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    conditions={
                        "StringLike": {
                            "aws:sourceArn": iam.lambda_function_arn(self, settings.prefix)
                        }
                    },
                )
            )
        self.output(r.REPOSITORY_NAME, self.repository.repository_name, "Image repository")
        self.output(r.REPOSITORY_URI, self.repository.repository_uri, "Image repository URI")
        self.output(r.BUILD_PROJECT_NAME, self.build.project.project_name, "Image builds")
        self.output(r.BUILD_LOG_GROUP_NAME, self.build.log_group.log_group_name, "Build logs")


class ComputeStack(SkyrunStack):
    """The network, Batch compute, the worker roles and the SDK users' policy."""

    part = r.COMPUTE

    def __init__(
        self,
        scope: Construct,
        settings: Settings,
        *,
        data: DataStack,
        images: ImagesStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, settings, description=f"skyrun {settings.prefix}: compute", **kwargs
        )
        store = data.store
        self.network = WorkerNetwork(
            self, "Network", vpc_id=settings.vpc_id, private_subnets=settings.private_subnets
        )
        self.batch = BatchCompute(
            self,
            "Batch",
            network=self.network,
            max_vcpus=settings.max_vcpus,
            spot=settings.spot,
        )
        self.workers = iam.WorkerRoles(
            self,
            "WorkerRoles",
            deployment=settings.prefix,
            bucket=store.bucket,
            tables=store.tables,
            job_logs=store.log_groups.job_logs,
            worker_logs=store.log_groups.worker_logs,
            repository=images.repository,
            lambda_target=settings.lambda_target,
        )
        self.sdk_policy = iam.SdkUserPolicy(
            self,
            "SdkUsers",
            deployment=settings.prefix,
            bucket=store.bucket,
            tables=store.tables,
            log_groups=[store.log_groups.job_logs, images.build.log_group],
            repository=images.repository,
            build_project_arn=images.build.project.project_arn,
            queues=self.batch.queues,
            worker_roles=self.workers.roles,
            lambda_role=self.workers.lambda_role,
        ).policy

        self.output(r.JOB_QUEUE_ARN, self.batch.worker_queue.job_queue_arn, "Worker queue")
        self.output(
            r.ON_DEMAND_JOB_QUEUE_ARN,
            self.batch.on_demand_queue.job_queue_arn,
            "On-demand Fargate queue",
        )
        self.output(r.JOB_ROLE_ARN, self.workers.job_role.role_arn, "Role of job code")
        self.output(
            r.EXECUTION_ROLE_ARN, self.workers.execution_role.role_arn, "Task execution role"
        )
        self.output(r.WORKER_SUBNET_IDS, Fn.join(",", self.network.subnet_ids), "Worker subnets")
        self.output(
            r.WORKER_SECURITY_GROUP_ID,
            self.network.security_group.security_group_id,
            "Worker security group",
        )
        self.output(
            r.WORKER_ASSIGN_PUBLIC_IP,
            "ENABLED" if self.network.assign_public_ip else "DISABLED",
            "assignPublicIp of worker job definitions",
        )
        self.output(
            r.JOB_DEFINITION_PREFIX,
            r.job_definition_prefix(settings.prefix),
            "Prefix of job definition names",
        )
        self.output(
            r.SDK_USER_POLICY_ARN,
            self.sdk_policy.managed_policy_arn,
            "Attach to the IAM users or roles that use the SDK",
        )
        lambda_role = self.workers.lambda_role
        self.output(
            r.LAMBDA_TARGET,
            "true" if lambda_role is not None else "false",
            "Whether Functions that fit Lambda run there (context skyrun:lambda)",
        )
        self.output(
            r.LAMBDA_ROLE_ARN,
            lambda_role.role_arn if lambda_role is not None else "none",
            "Execution role of the job Lambda functions",
        )
        self.output(
            r.LAMBDA_FUNCTION_PREFIX,
            r.lambda_function_prefix(settings.prefix),
            "Prefix of job Lambda function names",
        )


class EventsStack(SkyrunStack):
    """The build-finished handler and the scheduled reconciler."""

    part = r.EVENTS

    def __init__(
        self,
        scope: Construct,
        settings: Settings,
        *,
        data: DataStack,
        images: ImagesStack,
        compute: ComputeStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, settings, description=f"skyrun {settings.prefix}: event handlers", **kwargs
        )
        deployment = settings.prefix
        store = data.store
        # The handlers learn the deployment's resources from the same outputs the SDK reads.
        environment = {"SKYRUN_BACKEND": "aws", r.DEPLOYMENT_VARIABLE: deployment}
        for stack in (data, images, compute):
            for key, value in stack.output_values.items():
                environment[r.environment_variable(key)] = value
        shared = [
            *iam.data_statements(store.bucket, store.tables),
            iam.log_statement("ReadJobLogs", [store.log_groups.job_logs], read=True),
        ]
        lambda_role = compute.workers.lambda_role
        invoke = []
        lambda_statements = []
        if lambda_role is not None:
            # Both handlers start Lambda workers; the build handler makes the
            # environment's Lambda function first.
            invoke = [iam.invoke_lambda_statement(self, deployment)]
            lambda_statements = [
                *invoke,
                *iam.manage_lambda_statements(self, deployment, lambda_role, images.repository),
            ]
        self.build_finished = BuildFinishedHandler(
            self,
            "BuildFinished",
            deployment=deployment,
            build_project_name=images.build.project.project_name,
            environment=environment,
            statements=[
                *shared,
                iam.log_statement("ReadBuildLogs", [images.build.log_group], read=True),
                iam.read_builds_statement(images.build.project.project_arn),
                iam.describe_images_statement(images.repository),
                *iam.register_job_definitions_statements(self, deployment),
                iam.pass_roles_statement(compute.workers.roles),
                # A finished build starts workers for the jobs that waited for it.
                *iam.submit_jobs_statements(self, deployment, compute.batch.queues),
                *lambda_statements,
            ],
        )
        self.reconciler = Reconciler(
            self,
            "Reconciler",
            deployment=deployment,
            environment=environment,
            statements=[
                *shared,
                *iam.submit_jobs_statements(self, deployment, compute.batch.queues),
                *invoke,
            ],
        )
        self.output(
            r.BUILD_FINISHED_FUNCTION_NAME,
            self.build_finished.handler.function.function_name,
            "Handler of finished image builds",
        )
        self.output(
            r.RECONCILE_FUNCTION_NAME,
            self.reconciler.handler.function.function_name,
            "Scheduled reconciler",
        )
