"""Names shared by the CDK stacks in ``infra/`` and the AWS backend.

The CDK app imports this module to name its stacks and outputs and to lay out its
DynamoDB tables; the AWS backend imports it to find what was deployed. It is plain data
with no import of boto3 or the CDK, so ``infra`` depends on the SDK and never the
other way round. Renaming anything here is a breaking change for deployed stacks.

Deployment and stacks
---------------------
A deployment is named by its prefix, ``skyrun`` unless the CDK context says otherwise;
``SKYRUN_STACK`` holds that name. It is four CloudFormation stacks, deployed in order:

* ``{name}-data``: the S3 bucket, the DynamoDB tables, the job and worker log groups;
* ``{name}-images``: the ECR repository and the CodeBuild project that builds images;
* ``{name}-compute``: the network, the AWS Batch compute environments and job queues,
  the worker roles and the managed policy for SDK users;
* ``{name}-events``: the Lambda functions on EventBridge rules.

Every output key is unique across the four stacks. :data:`OUTPUTS` says which stack
carries each key, :func:`load_outputs` reads them all through any CloudFormation client,
and :func:`environment_variable` names the variable that carries an output to the
Lambda functions (and to workers, if the job definition passes it on), so code that
runs inside the deployment need not call CloudFormation.

S3 layout
---------
Blob data lives under its blob id, ``{storage_type}/{namespace}/{name}``. Objects under
:data:`LOGS_PREFIX` expire after :data:`LOG_RETENTION_DAYS` (the API keeps logs 30 days),
and objects under :data:`BUILDS_PREFIX` (inputs of image builds, such as a function's
``requirements.txt``) after :data:`BUILD_INPUT_RETENTION_DAYS`.

DynamoDB tables
---------------
All tables are on-demand with point-in-time recovery. Every key attribute is a string,
except ``creation_date``: a number of epoch seconds, as in every record (the ports module
says how records store instants), so an index range on it is a range on the record's
value. Global secondary indexes are sparse: an item without the index's key attributes is not
in the index. :data:`TTL_ATTRIBUTE` is a number of epoch seconds; DynamoDB deletes expired
items lazily (up to days later), so readers must compare it with the clock themselves.

``functions`` (:data:`FUNCTIONS`)
    Key ``id``. ``by-namespace`` (``namespace``, ``creation_date``) serves
    ``Function.search()`` within the caller's namespace, newest or oldest first.
    ``by-environment`` (``environment_hash``, keys only; a copy of the record's
    ``env_hash``) finds every function waiting on an image build, since functions with
    equal environments share one build.

``jobs`` (:data:`JOBS`)
    Key ``id``. ``by-function-status`` (``function_id``, ``status_order``) with
    ``status_order = "{status}#{order}"``, where ``order`` sorts jobs in the order they
    should be claimed (the date they were last queued, then the id). A claim queries
    ``begins_with(status_order, "pending#")`` for the first few candidates and takes one
    with a conditional update on the base table (``status = pending``), which also moves
    ``status_order``; the status counts of a function are ``Select=COUNT`` queries on the
    same prefixes, and lost leases are found under ``running#``. ``by-namespace``
    (``namespace``, ``creation_date``) serves ``Job.search()`` within a namespace.
    The items of one ``map()`` batch have ids derived from its reference id, so a
    re-sent batch overwrites nothing (``attribute_not_exists(id)``). Every job item
    carries a number ``revision``, incremented by each change: a read-modify-write (a
    status change moves ``status_order`` and the counters) writes on condition that it
    is unchanged.

``batches`` (:data:`BATCHES`)
    Key ``reference_id``: the idempotency record of one ``map()`` batch (the function
    id, the job ids, how many parts are written). It expires (:data:`TTL_ATTRIBUTE`)
    once a retry of that batch can no longer arrive.

``blobs`` (:data:`BLOBS`)
    Key ``id`` (``{storage_type}/{namespace}/{name}``), the blob's metadata; its data is
    the S3 object of the same key. ``by-namespace-type`` (``namespace_storage_type`` as
    ``"{namespace}#{storage_type}"``, ``name``) serves a search by namespace and storage
    type, with ``begins_with(name, prefix)`` for a name prefix. A blob with ``expires``
    carries :data:`TTL_ATTRIBUTE` too, so its record goes away after it.

``leases`` (:data:`LEASES`)
    Key (``pk``, ``sk``): the coordination table, one item kind per key shape.
    A worker lease is ``pk = "function#{function_id}"``, ``sk = "worker#{worker_id}"``
    with :data:`TTL_ATTRIBUTE` as its expiry, renewed while the worker lives: the live
    workers of a function are one query on ``pk``, filtered on the expiry. Exact limits
    (``maximum_concurrency``, 1000 active jobs per namespace) are worker slots
    ``pk = "slot#function#{function_id}#{k}"`` or ``"slot#namespace#{namespace}#{n}"``,
    ``sk = "slot"``: each a key of its own, taken once by a worker and checked by its
    claims (see ``slotitems``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# --- deployment and stacks -------------------------------------------------------------

#: The deployment name when none is given.
DEFAULT_DEPLOYMENT = "skyrun"
#: The environment variable that names the deployment the SDK uses.
DEPLOYMENT_VARIABLE = "SKYRUN_STACK"

DATA = "data"
IMAGES = "images"
COMPUTE = "compute"
EVENTS = "events"
#: The stacks of a deployment, in deployment order.
STACK_PARTS: tuple[str, ...] = (DATA, IMAGES, COMPUTE, EVENTS)

_DEPLOYMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


def validate_deployment_name(name: str) -> str:
    """Return ``name`` if it can name a deployment, else raise ``ValueError``.

    The name prefixes stacks, job definitions and log groups, some of which allow only
    lower-case letters, digits and hyphens, so the rule is the strictest of them.
    """
    if not isinstance(name, str) or not _DEPLOYMENT_NAME.match(name) or name.endswith("-"):
        raise ValueError(
            f"deployment name {name!r} is not allowed; use 1-20 lower-case letters, digits "
            "and hyphens, starting with a letter and not ending with a hyphen"
        )
    return name


def stack_name(deployment: str, part: str) -> str:
    """The CloudFormation stack name of one part (:data:`STACK_PARTS`) of a deployment."""
    if part not in STACK_PARTS:
        raise ValueError(f"unknown stack part {part!r}; expected one of {STACK_PARTS}")
    return f"{deployment}-{part}"


def stack_names(deployment: str) -> list[str]:
    """The stack names of a deployment, in deployment order."""
    return [stack_name(deployment, part) for part in STACK_PARTS]


# --- stack outputs ---------------------------------------------------------------------

# data stack
BUCKET_NAME = "BucketName"
FUNCTIONS_TABLE_NAME = "FunctionsTableName"
JOBS_TABLE_NAME = "JobsTableName"
BATCHES_TABLE_NAME = "BatchesTableName"
BLOBS_TABLE_NAME = "BlobsTableName"
LEASES_TABLE_NAME = "LeasesTableName"
#: Job logs: one stream ``{function_id}/{job_id}`` per job, written by the worker.
JOB_LOG_GROUP_NAME = "JobLogGroupName"
#: The container output of the workers themselves (the ``awslogs`` driver).
WORKER_LOG_GROUP_NAME = "WorkerLogGroupName"

# images stack
REPOSITORY_NAME = "RepositoryName"
REPOSITORY_URI = "RepositoryUri"
BUILD_PROJECT_NAME = "BuildProjectName"
BUILD_LOG_GROUP_NAME = "BuildLogGroupName"

# compute stack
#: The queue for worker array jobs: Fargate Spot first when Spot is on, else Fargate.
JOB_QUEUE_ARN = "JobQueueArn"
#: A queue on on-demand Fargate only (the same queue as above when Spot is off).
ON_DEMAND_JOB_QUEUE_ARN = "OnDemandJobQueueArn"
JOB_ROLE_ARN = "JobRoleArn"
EXECUTION_ROLE_ARN = "ExecutionRoleArn"
#: Comma-separated subnet ids the compute environments place workers in.
WORKER_SUBNET_IDS = "WorkerSubnetIds"
WORKER_SECURITY_GROUP_ID = "WorkerSecurityGroupId"
#: ``ENABLED`` or ``DISABLED``: the ``assignPublicIp`` of a Fargate job definition.
WORKER_ASSIGN_PUBLIC_IP = "WorkerAssignPublicIp"
#: Job definitions must be named with this prefix: the IAM policies are scoped to it.
JOB_DEFINITION_PREFIX = "JobDefinitionPrefix"
SDK_USER_POLICY_ARN = "SdkUserPolicyArn"
#: ``true`` or ``false`` (the CDK context ``skyrun:lambda``): whether Functions that fit
#: Lambda run there (``skyrun.domain.targets``) or every job runs on Batch.
LAMBDA_TARGET = "LambdaTarget"
#: The execution role of the job Lambda functions: the job role's rights, no more.
LAMBDA_ROLE_ARN = "LambdaJobRoleArn"
#: Job Lambda functions (one per environment hash) are named with this prefix: the IAM
#: policies are scoped to it.
LAMBDA_FUNCTION_PREFIX = "LambdaFunctionPrefix"

# events stack
BUILD_FINISHED_FUNCTION_NAME = "BuildFinishedFunctionName"
RECONCILE_FUNCTION_NAME = "ReconcileFunctionName"

#: Every output key, with the stack part that carries it.
OUTPUTS: dict[str, str] = {
    BUCKET_NAME: DATA,
    FUNCTIONS_TABLE_NAME: DATA,
    JOBS_TABLE_NAME: DATA,
    BATCHES_TABLE_NAME: DATA,
    BLOBS_TABLE_NAME: DATA,
    LEASES_TABLE_NAME: DATA,
    JOB_LOG_GROUP_NAME: DATA,
    WORKER_LOG_GROUP_NAME: DATA,
    REPOSITORY_NAME: IMAGES,
    REPOSITORY_URI: IMAGES,
    BUILD_PROJECT_NAME: IMAGES,
    BUILD_LOG_GROUP_NAME: IMAGES,
    JOB_QUEUE_ARN: COMPUTE,
    ON_DEMAND_JOB_QUEUE_ARN: COMPUTE,
    JOB_ROLE_ARN: COMPUTE,
    EXECUTION_ROLE_ARN: COMPUTE,
    WORKER_SUBNET_IDS: COMPUTE,
    WORKER_SECURITY_GROUP_ID: COMPUTE,
    WORKER_ASSIGN_PUBLIC_IP: COMPUTE,
    JOB_DEFINITION_PREFIX: COMPUTE,
    SDK_USER_POLICY_ARN: COMPUTE,
    LAMBDA_TARGET: COMPUTE,
    LAMBDA_ROLE_ARN: COMPUTE,
    LAMBDA_FUNCTION_PREFIX: COMPUTE,
    BUILD_FINISHED_FUNCTION_NAME: EVENTS,
    RECONCILE_FUNCTION_NAME: EVENTS,
}


def outputs_of(part: str) -> list[str]:
    """The output keys one stack part carries."""
    return [key for key, owner in OUTPUTS.items() if owner == part]


def environment_variable(output_key: str) -> str:
    """The environment variable that carries an output: ``BucketName`` → ``SKYRUN_BUCKET_NAME``."""
    if output_key not in OUTPUTS:
        raise KeyError(f"unknown output key {output_key!r}")
    return "SKYRUN_" + re.sub(r"(?<!^)(?=[A-Z])", "_", output_key).upper()


def outputs_from_environment(environ: Mapping[str, str], keys: Iterable[str]) -> dict[str, str]:
    """Read the given outputs from environment variables (see :func:`environment_variable`).

    Raises ``LookupError`` naming the variables that are missing.
    """
    keys = list(keys)
    missing = [environment_variable(k) for k in keys if environment_variable(k) not in environ]
    if missing:
        raise LookupError(f"environment variables not set: {', '.join(missing)}")
    return {key: environ[environment_variable(key)] for key in keys}


def load_outputs(cloudformation: Any, deployment: str) -> dict[str, str]:
    """Read every output of a deployment's stacks with a CloudFormation client.

    ``cloudformation`` is anything with boto3's ``describe_stacks(StackName=...)``.
    Raises ``LookupError`` naming the outputs that no stack carries, which means the
    deployment is missing, incomplete, or older than this SDK.
    """
    outputs: dict[str, str] = {}
    for name in stack_names(deployment):
        for stack in cloudformation.describe_stacks(StackName=name)["Stacks"]:
            for output in stack.get("Outputs", []):
                outputs[output["OutputKey"]] = output["OutputValue"]
    missing = [key for key in OUTPUTS if key not in outputs]
    if missing:
        raise LookupError(
            f"deployment {deployment!r} lacks the stack outputs {', '.join(missing)}; "
            f"deploy the stacks {', '.join(stack_names(deployment))} with 'cdk deploy --all'"
        )
    return {key: outputs[key] for key in OUTPUTS}


# --- S3 --------------------------------------------------------------------------------

LOGS_PREFIX = "logs/"
BUILDS_PREFIX = "builds/"
LOG_RETENTION_DAYS = 30
BUILD_INPUT_RETENTION_DAYS = 7

# --- DynamoDB --------------------------------------------------------------------------

STRING = "S"
NUMBER = "N"
TTL_ATTRIBUTE = "expires_at"

ALL = "ALL"
KEYS_ONLY = "KEYS_ONLY"


@dataclass(frozen=True)
class Key:
    """A key attribute: its name and DynamoDB type (``S`` or ``N``)."""

    name: str
    type: str = STRING


@dataclass(frozen=True)
class Index:
    """A global secondary index."""

    name: str
    partition_key: Key
    sort_key: Key | None = None
    projection: str = ALL


@dataclass(frozen=True)
class Table:
    """The key schema of one table and the output key that names it."""

    name: str
    output_key: str
    partition_key: Key
    sort_key: Key | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None

    def index(self, name: str) -> Index:
        """The index called ``name``; ``KeyError`` if the table has none."""
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(f"table {self.name!r} has no index {name!r}")


FUNCTIONS_BY_NAMESPACE = "by-namespace"
FUNCTIONS_BY_ENVIRONMENT = "by-environment"
JOBS_BY_FUNCTION_STATUS = "by-function-status"
JOBS_BY_NAMESPACE = "by-namespace"
BLOBS_BY_NAMESPACE_TYPE = "by-namespace-type"

#: Separates the parts of composite key values such as ``status_order``.
KEY_SEPARATOR = "#"

FUNCTIONS = Table(
    name="functions",
    output_key=FUNCTIONS_TABLE_NAME,
    partition_key=Key("id"),
    indexes=(
        Index(FUNCTIONS_BY_NAMESPACE, Key("namespace"), Key("creation_date", NUMBER)),
        Index(FUNCTIONS_BY_ENVIRONMENT, Key("environment_hash"), projection=KEYS_ONLY),
    ),
)
JOBS = Table(
    name="jobs",
    output_key=JOBS_TABLE_NAME,
    partition_key=Key("id"),
    indexes=(
        Index(JOBS_BY_FUNCTION_STATUS, Key("function_id"), Key("status_order")),
        Index(JOBS_BY_NAMESPACE, Key("namespace"), Key("creation_date", NUMBER)),
    ),
)
BATCHES = Table(
    name="batches",
    output_key=BATCHES_TABLE_NAME,
    partition_key=Key("reference_id"),
    ttl_attribute=TTL_ATTRIBUTE,
)
BLOBS = Table(
    name="blobs",
    output_key=BLOBS_TABLE_NAME,
    partition_key=Key("id"),
    indexes=(Index(BLOBS_BY_NAMESPACE_TYPE, Key("namespace_storage_type"), Key("name")),),
    ttl_attribute=TTL_ATTRIBUTE,
)
LEASES = Table(
    name="leases",
    output_key=LEASES_TABLE_NAME,
    partition_key=Key("pk"),
    sort_key=Key("sk"),
    ttl_attribute=TTL_ATTRIBUTE,
)

#: Every table, in a stable order.
TABLES: tuple[Table, ...] = (FUNCTIONS, JOBS, BATCHES, BLOBS, LEASES)

# --- images and builds -----------------------------------------------------------------

#: The Python versions with a base image (the ``image`` values ``python3.X[:latest]``).
PYTHON_VERSIONS: tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13")


def base_image_tag(python_version: str) -> str:
    """The ECR tag of the base image for ``python_version``: ``3.11`` → ``python3.11``."""
    return f"python{python_version}"


def function_image_tag(environment_hash: str) -> str:
    """The ECR tag of the image for one environment (Python version and requirements)."""
    return f"env-{environment_hash}"


# Environment variables a StartBuild call overrides to choose what the project builds.
#: ``base`` (the base images of :data:`BUILD_PYTHON_VERSIONS`) or ``function``.
BUILD_KIND = "SKYRUN_BUILD_KIND"
BUILD_KIND_BASE = "base"
BUILD_KIND_FUNCTION = "function"
#: Space-separated Python versions, for a base build.
BUILD_PYTHON_VERSIONS = "SKYRUN_PYTHON_VERSIONS"
#: The Python version of a function build; its base image is built first if missing.
BUILD_PYTHON_VERSION = "SKYRUN_PYTHON_VERSION"
#: The tag a function build pushes (:func:`function_image_tag`).
BUILD_IMAGE_TAG = "SKYRUN_IMAGE_TAG"
#: ``s3://{bucket}/builds/...`` of the ``requirements.txt`` a function build installs.
BUILD_REQUIREMENTS_URI = "SKYRUN_REQUIREMENTS_URI"
#: The function a build is for, so that the build-finished handler can find it.
BUILD_FUNCTION_ID = "SKYRUN_FUNCTION_ID"


def job_definition_prefix(deployment: str) -> str:
    """The prefix of every Batch job definition name of a deployment.

    An underscore cannot occur in a deployment name, so the prefix of ``skyrun`` never
    matches the job definitions of a deployment called ``skyrun-dev``.
    """
    return f"{deployment}_"


def lambda_function_prefix(deployment: str) -> str:
    """The prefix of every job Lambda function name of a deployment (``{name}-env-``; a
    function name is at most 64 characters: 20 + 5 + a 24-character hash fits)."""
    return f"{deployment}-env-"


def lambda_log_group_name(function_name: str) -> str:
    """The log group a Lambda function writes to (Lambda's own naming)."""
    return f"/aws/lambda/{function_name}"


def lambda_log_group_prefix(deployment: str) -> str:
    """The prefix of the log groups of the job Lambda functions."""
    return lambda_log_group_name(lambda_function_prefix(deployment))


#: The log groups a deployment creates, by what they hold: job logs (one stream per job
#: attempt), the workers' own output, and the CodeBuild image builds.
JOB_LOGS, WORKER_LOGS, BUILD_LOGS = "jobs", "workers", "builds"


def log_group_name(deployment: str, kind: str) -> str:
    """``/skyrun/{deployment}/{kind}``: a log group of the deployment (``kind`` one of
    :data:`JOB_LOGS`, :data:`WORKER_LOGS`, :data:`BUILD_LOGS`)."""
    return f"/skyrun/{deployment}/{kind}"


def handler_log_group_name(deployment: str, handler: str) -> str:
    """The log group of an event handler's Lambda function (``build_finished`` →
    ``/skyrun/{deployment}/lambda/build-finished``)."""
    return log_group_name(deployment, f"lambda/{handler.replace('_', '-')}")


def job_definition_name(deployment: str, function_id: str) -> str:
    """The Batch job definition name of one function."""
    return job_definition_prefix(deployment) + function_id
