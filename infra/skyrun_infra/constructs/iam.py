"""Least-privilege IAM: the worker roles, the SDK users' managed policy, and the policy
statements they share with the Lambda functions.

Every data permission names this deployment's bucket, tables, log groups and repository;
the only ``*`` resources are on actions that support no resource (Batch's Describe and
List calls, ``ecr:GetAuthorizationToken``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct, IConstruct

from skyrun.backends.aws import resources

TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
]
OBJECT_ACTIONS = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
LOG_WRITE_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
LOG_READ_ACTIONS = ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"]

WILDCARD_REASON = (
    "The wildcard stands for the objects of this deployment's bucket, the indexes of its "
    "tables, the streams of its log groups, the stack ids of its stacks or its job "
    "definitions' revisions; or the action supports no resource-level permission."
)


def suppress_scoped_wildcards(construct: IConstruct) -> None:
    """Record why the wildcards of :mod:`iam` policies are still least privilege."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [{"id": "AwsSolutions-IAM5", "reason": WILDCARD_REASON}],
        apply_to_children=True,
    )


def data_statements(
    bucket: s3.IBucket, tables: Iterable[dynamodb.ITable]
) -> list[iam.PolicyStatement]:
    """Read and write the deployment's blobs and records."""
    tables = list(tables)
    return [
        iam.PolicyStatement(
            sid="Blobs", actions=OBJECT_ACTIONS, resources=[bucket.arn_for_objects("*")]
        ),
        iam.PolicyStatement(
            sid="ListBlobs", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
        ),
        iam.PolicyStatement(
            sid="Records",
            actions=TABLE_ACTIONS,
            resources=[t.table_arn for t in tables] + [f"{t.table_arn}/index/*" for t in tables],
        ),
    ]


def log_statement(
    sid: str, log_groups: Sequence[logs.ILogGroup], *, write: bool = False, read: bool = False
) -> iam.PolicyStatement:
    """Write to and/or read the streams of the given log groups."""
    actions = (LOG_WRITE_ACTIONS if write else []) + (LOG_READ_ACTIONS if read else [])
    return iam.PolicyStatement(
        sid=sid, actions=actions, resources=[g.log_group_arn for g in log_groups]
    )


def stack_arns(scope: Construct, deployment: str) -> list[str]:
    """The ARNs of the deployment's four stacks, whatever their stack ids."""
    stack = Stack.of(scope)
    return [
        stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{name}/*")
        for name in resources.stack_names(deployment)
    ]


def job_definition_arn(scope: Construct, deployment: str) -> str:
    """The ARN pattern of the deployment's job definitions, every revision."""
    return Stack.of(scope).format_arn(
        service="batch",
        resource="job-definition",
        resource_name=f"{resources.job_definition_prefix(deployment)}*",
    )


def describe_images_statement(repository: ecr.IRepository) -> iam.PolicyStatement:
    """See which images the repository holds (whether an environment is built)."""
    return iam.PolicyStatement(
        sid="DescribeImages",
        actions=["ecr:DescribeImages"],
        resources=[repository.repository_arn],
    )


def read_builds_statement(build_project_arn: str) -> iam.PolicyStatement:
    """Follow the builds of the image build project."""
    return iam.PolicyStatement(
        sid="ReadBuilds", actions=["codebuild:BatchGetBuilds"], resources=[build_project_arn]
    )


def read_outputs_statement(scope: Construct, deployment: str) -> iam.PolicyStatement:
    """Read the stack outputs that name the deployment's resources."""
    return iam.PolicyStatement(
        sid="ReadDeploymentOutputs",
        actions=["cloudformation:DescribeStacks"],
        resources=stack_arns(scope, deployment),
    )


def pass_roles_statement(roles: Sequence[iam.IRole]) -> iam.PolicyStatement:
    """Name the worker roles in the job definitions one registers."""
    return iam.PolicyStatement(
        sid="PassWorkerRoles", actions=["iam:PassRole"], resources=[r.role_arn for r in roles]
    )


def register_job_definitions_statements(
    scope: Construct, deployment: str
) -> list[iam.PolicyStatement]:
    """Register and deregister the deployment's job definitions, and read them."""
    return [
        iam.PolicyStatement(
            sid="RegisterJobDefinitions",
            actions=["batch:RegisterJobDefinition", "batch:DeregisterJobDefinition"],
            resources=[job_definition_arn(scope, deployment)],
        ),
        iam.PolicyStatement(
            sid="DescribeJobDefinitions",
            actions=["batch:DescribeJobDefinitions"],
            resources=["*"],
        ),
    ]


def submit_jobs_statements(
    scope: Construct, deployment: str, queues: Sequence[batch.IJobQueue]
) -> list[iam.PolicyStatement]:
    """Submit and follow worker array jobs on the deployment's queues."""
    return [
        iam.PolicyStatement(
            sid="SubmitWorkers",
            actions=["batch:SubmitJob"],
            resources=[q.job_queue_arn for q in queues] + [job_definition_arn(scope, deployment)],
        ),
        iam.PolicyStatement(
            sid="FollowWorkers",
            actions=["batch:DescribeJobs", "batch:ListJobs"],
            resources=["*"],
        ),
    ]


def lambda_function_arn(scope: Construct, deployment: str) -> str:
    """The ARN pattern of the deployment's job Lambda functions (one per environment)."""
    return Stack.of(scope).format_arn(
        service="lambda",
        resource="function",
        resource_name=f"{resources.lambda_function_prefix(deployment)}*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def lambda_log_group_arn(scope: Construct, deployment: str) -> str:
    """The ARN pattern of the job Lambda functions' log groups (and their streams)."""
    return Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"{resources.lambda_log_group_prefix(deployment)}*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def invoke_lambda_statement(scope: Construct, deployment: str) -> iam.PolicyStatement:
    """Start Lambda workers: invoke the deployment's job Lambda functions (after reading
    their size: a Function too large for its environment's function goes to Batch)."""
    return iam.PolicyStatement(
        sid="InvokeLambdaWorkers",
        actions=["lambda:GetFunctionConfiguration", "lambda:InvokeFunction"],
        resources=[lambda_function_arn(scope, deployment)],
    )


def manage_lambda_statements(
    scope: Construct, deployment: str, lambda_role: iam.IRole, repository: ecr.IRepository
) -> list[iam.PolicyStatement]:
    """Create, update and remove the deployment's job Lambda functions and their log
    groups, naming the job Lambda role; Lambda reads the image with the caller's rights."""
    return [
        iam.PolicyStatement(
            sid="ManageLambdaWorkers",
            actions=[
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:TagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            resources=[lambda_function_arn(scope, deployment)],
        ),
        iam.PolicyStatement(
            sid="LambdaWorkerLogGroups",
            actions=["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy"],
            resources=[lambda_log_group_arn(scope, deployment)],
        ),
        iam.PolicyStatement(
            sid="PassLambdaRole", actions=["iam:PassRole"], resources=[lambda_role.role_arn]
        ),
        iam.PolicyStatement(
            sid="LambdaImagePull",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=[repository.repository_arn],
        ),
    ]


class WorkerRoles(Construct):
    """The roles of a worker task: the job role its code runs with, and the execution role
    ECS uses to pull its image and ship its container output.

    The job role reaches only this deployment's bucket, tables, job log group and
    repository, and reads its stack outputs so that skyrun inside a job finds the same
    deployment. It cannot start builds or workers: jobs submitted from inside a job are
    picked up by live workers or by the reconciler.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        bucket: s3.IBucket,
        tables: Sequence[dynamodb.ITable],
        job_logs: logs.ILogGroup,
        worker_logs: logs.ILogGroup,
        repository: ecr.IRepository,
        lambda_target: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        tasks = iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=tasks,
            description=f"skyrun {deployment}: what job code may reach",
        )
        job_statements = [
            *data_statements(bucket, tables),
            log_statement("JobLogs", [job_logs], write=True, read=True),
            describe_images_statement(repository),
            read_outputs_statement(self, deployment),
        ]
        for statement in job_statements:
            self.job_role.add_to_policy(statement)
        #: The execution role of job Lambda functions: the job role's statements, and
        #: (as the task execution role does for Batch) writing its own output.
        self.lambda_role: iam.Role | None = None
        if lambda_target:
            self.lambda_role = iam.Role(
                self,
                "LambdaJobRole",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"skyrun {deployment}: what job code on Lambda may reach",
            )
            for statement in [
                *data_statements(bucket, tables),
                log_statement("JobLogs", [job_logs], write=True, read=True),
                describe_images_statement(repository),
                read_outputs_statement(self, deployment),
            ]:
                self.lambda_role.add_to_policy(statement)
            self.lambda_role.add_to_policy(
                iam.PolicyStatement(
                    sid="LambdaOutput",
                    actions=LOG_WRITE_ACTIONS,
                    resources=[lambda_log_group_arn(self, deployment)],
                )
            )

        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=tasks,
            description=f"skyrun {deployment}: pulls worker images and writes worker output",
        )
        repository.grant_pull(self.execution_role)
        self.execution_role.add_to_policy(log_statement("WorkerLogs", [worker_logs], write=True))
        suppress_scoped_wildcards(self)

    @property
    def roles(self) -> list[iam.IRole]:
        """The job role and the execution role (the roles Batch job definitions name)."""
        return [self.job_role, self.execution_role]


class SdkUserPolicy(Construct):
    """The managed policy to attach to the users (or roles) of the SDK.

    It allows what the SDK does with a deployment: read the stack outputs, read and write
    records, blobs and job logs, start and follow image builds, register job definitions
    and submit worker array jobs; and nothing on any other deployment.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        bucket: s3.IBucket,
        tables: Sequence[dynamodb.ITable],
        log_groups: Sequence[logs.ILogGroup],
        repository: ecr.IRepository,
        build_project_arn: str,
        queues: Sequence[batch.IJobQueue],
        worker_roles: Sequence[iam.IRole],
        lambda_role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        statements = [
            read_outputs_statement(self, deployment),
            *data_statements(bucket, tables),
            log_statement("ReadLogs", log_groups, read=True),
            iam.PolicyStatement(
                sid="BuildImages",
                actions=["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
                resources=[build_project_arn],
            ),
            iam.PolicyStatement(
                sid="ManageImages",
                actions=["ecr:DescribeImages", "ecr:BatchDeleteImage"],
                resources=[repository.repository_arn],
            ),
            *register_job_definitions_statements(self, deployment),
            *submit_jobs_statements(self, deployment, queues),
            pass_roles_statement(worker_roles),
        ]
        if lambda_role is not None:
            # save() makes the Lambda function of an image it reuses; delete() removes
            # the last one of an environment; submissions invoke Lambda workers.
            statements += [
                invoke_lambda_statement(self, deployment),
                *manage_lambda_statements(self, deployment, lambda_role, repository),
            ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Use skyrun deployment {deployment} from the SDK",
            statements=statements,
        )
        suppress_scoped_wildcards(self)
