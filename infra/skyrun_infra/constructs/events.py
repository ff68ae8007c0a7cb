"""The event handlers: Lambda functions on a CodeBuild rule and on a schedule.

Their code is ``skyrun_runtime.lambdas`` together with the ``skyrun`` package, taken
from the repository as they are (``sources.lambda_code``), with no bundling step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from skyrun.backends.aws import resources
from skyrun_infra import sources
from skyrun_infra.constructs.data import LOG_RETENTION
from skyrun_infra.constructs.iam import suppress_scoped_wildcards

#: The newest Python the base images offer (resources.PYTHON_VERSIONS), so the handlers
#: run on a version skyrun is tested with.
RUNTIME = lambda_.Runtime.PYTHON_3_13
HANDLER_MODULE = "skyrun_runtime.lambdas"
#: CodeBuild states that end a build.
FINAL_BUILD_STATES = ["SUCCEEDED", "FAILED", "STOPPED"]


class Handler(Construct):
    """One Lambda function running a handler of ``skyrun_runtime.lambdas``, with its own
    role (granted ``statements``) and a log group kept 30 days."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        handler: str,
        description: str,
        timeout: Duration,
        environment: Mapping[str, str],
        statements: Sequence[iam.PolicyStatement],
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=resources.handler_log_group_name(deployment, handler),
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"skyrun {deployment}: the {handler} handler",
        )
        # Written out rather than AWSLambdaBasicExecutionRole, which allows every log group.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="OwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        for statement in statements:
            self.role.add_to_policy(statement)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler=f"{HANDLER_MODULE}.{handler}",
            code=lambda_.Code.from_asset(str(sources.lambda_code())),
            description=description,
            timeout=timeout,
            memory_size=256,
            environment=dict(environment),
            role=self.role,
            log_group=self.log_group,
        )
        suppress_scoped_wildcards(self.role)
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                {
                    "id": "AwsSolutions-L1",
                    "reason": "Pinned to the newest Python that skyrun builds base images "
                    "for and is tested on; raised together with PYTHON_VERSIONS.",
                }
            ],
        )


class BuildFinishedHandler(Construct):
    """``build_finished``, run when a build of the deployment's project ends."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        build_project_name: str,
        environment: Mapping[str, str],
        statements: Sequence[iam.PolicyStatement],
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = Handler(
            self,
            "Handler",
            deployment=deployment,
            handler="build_finished",
            description=f"skyrun {deployment}: a function image build ended",
            timeout=Duration.minutes(1),
            environment=environment,
            statements=statements,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"skyrun {deployment}: image builds that end",
            event_pattern=events.EventPattern(
                source=["aws.codebuild"],
                detail_type=["CodeBuild Build State Change"],
                detail={
                    "project-name": [build_project_name],
                    "build-status": FINAL_BUILD_STATES,
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.handler.function,
                    # A lost event would leave functions building forever.
                    retry_attempts=8,
                    max_event_age=Duration.hours(2),
                )
            ],
        )


class Reconciler(Construct):
    """``reconcile``, run on a schedule to relaunch lost workers and expire lost leases."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        environment: Mapping[str, str],
        statements: Sequence[iam.PolicyStatement],
        every: Duration = Duration.minutes(1),
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = Handler(
            self,
            "Handler",
            deployment=deployment,
            handler="reconcile",
            description=f"skyrun {deployment}: relaunch lost workers, expire lost leases",
            # Shorter than the period, so that two runs rarely overlap.
            timeout=Duration.seconds(min(every.to_seconds() - 5, 900)),
            environment=environment,
            statements=statements,
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"skyrun {deployment}: reconcile workers and leases",
            schedule=events.Schedule.rate(every),
            # A missed tick is made up by the next one; retrying it would only pile up.
            targets=[targets.LambdaFunction(self.handler.function, retry_attempts=0)],
        )
