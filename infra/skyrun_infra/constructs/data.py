"""Where a deployment keeps its state: the S3 bucket, the DynamoDB tables, the log groups."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from skyrun.backends.aws import resources

_ATTRIBUTE_TYPES = {
    resources.STRING: dynamodb.AttributeType.STRING,
    resources.NUMBER: dynamodb.AttributeType.NUMBER,
}
_PROJECTIONS = {
    resources.ALL: dynamodb.ProjectionType.ALL,
    resources.KEYS_ONLY: dynamodb.ProjectionType.KEYS_ONLY,
}

#: 30 days (resources.LOG_RETENTION_DAYS), the retention the API promises for logs.
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def _attribute(key: resources.Key) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class BlobBucket(Construct):
    """The S3 bucket of blob data: private, encrypted, TLS-only, retained on destroy."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            # Results and user data outlive the deployment; destroying it must not
            # destroy them.
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    prefix=resources.LOGS_PREFIX,
                    expiration=Duration.days(resources.LOG_RETENTION_DAYS),
                ),
                s3.LifecycleRule(
                    id="expire-build-inputs",
                    prefix=resources.BUILDS_PREFIX,
                    expiration=Duration.days(resources.BUILD_INPUT_RETENTION_DAYS),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.bucket,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "Workers write a result and a log object per job, so server "
                    "access logs would cost more than the data; object access can be "
                    "audited with CloudTrail data events when an account needs it.",
                }
            ],
        )


class StateTables(Construct):
    """The DynamoDB tables of :data:`skyrun.backends.aws.resources.TABLES`.

    On-demand, so an idle deployment costs only its storage, with point-in-time recovery
    and retained on destroy, since they hold the users' function and job records.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {}
        for spec in resources.TABLES:
            table = dynamodb.Table(
                self,
                spec.name.capitalize(),
                partition_key=_attribute(spec.partition_key),
                sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=spec.ttl_attribute,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_attribute(index.sort_key) if index.sort_key else None,
                    projection_type=_PROJECTIONS[index.projection],
                )
            self.tables[spec.name] = table

    def table(self, spec: resources.Table) -> dynamodb.Table:
        """The table deployed for ``spec``."""
        return self.tables[spec.name]


class LogGroups(Construct):
    """The log groups of job logs and of the workers' own output, kept 30 days.

    They are named after the deployment and removed with it: a job's log is copied to its
    log blob once the job ends, so only the live tails of running jobs go with them.
    """

    def __init__(self, scope: Construct, construct_id: str, *, deployment: str) -> None:
        super().__init__(scope, construct_id)
        self.job_logs = logs.LogGroup(
            self,
            "JobLogs",
            log_group_name=resources.log_group_name(deployment, resources.JOB_LOGS),
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.worker_logs = logs.LogGroup(
            self,
            "WorkerLogs",
            log_group_name=resources.log_group_name(deployment, resources.WORKER_LOGS),
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )


class DataStore(Construct):
    """Everything that holds a deployment's state: bucket, tables and log groups."""

    def __init__(self, scope: Construct, construct_id: str, *, deployment: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = BlobBucket(self, "Blobs").bucket
        self.state = StateTables(self, "Tables")
        self.log_groups = LogGroups(self, "Logs", deployment=deployment)

    @property
    def tables(self) -> list[dynamodb.Table]:
        """Every table, in the order of :data:`skyrun.backends.aws.resources.TABLES`."""
        return [self.state.table(spec) for spec in resources.TABLES]
