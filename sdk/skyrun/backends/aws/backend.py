"""``AwsBackend``: the stores, builder and launcher of one deployed skyrun stack."""

from __future__ import annotations

import json
import os
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from skyrun import config
from skyrun.backends.aws import resources as res
from skyrun.backends.aws.session import new_client
from skyrun.backends.ports import Backend, WorkerPace
from skyrun.exceptions import ValidationError

if TYPE_CHECKING:  # imported on first use: the SDK loads only what it needs
    from skyrun.backends.aws.blobs import S3BlobStore
    from skyrun.backends.aws.builder import CodeBuildBuilder
    from skyrun.backends.aws.launcher import BatchLauncher
    from skyrun.backends.aws.logs import CloudWatchLogStore
    from skyrun.backends.aws.store import DynamoStore

#: The config file under ``$SKYRUN_HOME`` that may name the deployment: ``{"stack": ...}``.
CONFIG_FILE = "config.json"


class AwsBackend(Backend):
    """DynamoDB, S3, CloudWatch Logs, CodeBuild and AWS Batch of one deployment.

    ``outputs`` maps :data:`resources.OUTPUTS` keys to the deployed values (the data
    stack's alone are enough for the stores). Clients are created once and shared by
    threads (boto3 clients are thread-safe).
    """

    name = "aws"
    #: The pace of a worker (``skyrun_runtime.worker``): every poll for work is a
    #: request, so an idle worker backs off to a poll a second and looks at its Function
    #: and for lost jobs every 15 s, and a busy one reads its Function's settings again at
    #: most every 10 s instead of once a job. A stop or a lowered
    #: ``maximum_concurrency`` does not wait for either: it revokes slots, which the next
    #: claim checks (``slotitems``); what waits is a changed timeout, memory, cpus or
    #: environment (docs/aws.md, "Requests and their cost").
    pace = WorkerPace(poll_seconds=(0.02, 1.0), check_seconds=15.0, refresh_seconds=10.0)

    def __init__(self, outputs: dict[str, str], deployment: str | None = None,
                 session: Any = None) -> None:
        self.outputs = dict(outputs)
        self.deployment = deployment
        self.session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """The shared boto3 client of ``service`` (boto3 ships no types: Any)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = new_client(service, self.session)
            return self._clients[service]

    def output(self, key: str) -> str:
        """One stack output; a clear error if the deployment lacks it."""
        try:
            return self.outputs[key]
        except KeyError:
            raise LookupError(f"the skyrun deployment {self.deployment or ''!s} has no output "
                              f"{key!r}; is it fully deployed?") from None

    # -- the ports ----------------------------------------------------------------------
    @cached_property
    def store(self) -> DynamoStore:
        """Function and job records (DynamoDB)."""
        from skyrun.backends.aws.store import DynamoStore

        return DynamoStore(self.client("dynamodb"), self.output(res.FUNCTIONS_TABLE_NAME),
                           self.output(res.JOBS_TABLE_NAME),
                           self.output(res.BATCHES_TABLE_NAME),
                           self.output(res.LEASES_TABLE_NAME),
                           blobs=self.output(res.BLOBS_TABLE_NAME))

    @cached_property
    def blobs(self) -> S3BlobStore:
        """Blob data (S3) and metadata (DynamoDB)."""
        from skyrun.backends.aws.blobs import S3BlobStore

        return S3BlobStore(self.client("s3"), self.client("dynamodb"),
                           self.output(res.BUCKET_NAME), self.output(res.BLOBS_TABLE_NAME))

    @cached_property
    def logs(self) -> CloudWatchLogStore:
        """Job logs (CloudWatch Logs, sealed into log blobs)."""
        from skyrun.backends.aws.logs import CloudWatchLogStore

        return CloudWatchLogStore(self.client("logs"), self.blobs,
                                  self.output(res.JOB_LOG_GROUP_NAME))

    @cached_property
    def builder(self) -> CodeBuildBuilder:
        """Function images (CodeBuild and ECR)."""
        from skyrun.backends.aws.builder import CodeBuildBuilder

        return CodeBuildBuilder(self)

    @cached_property
    def launcher(self) -> BatchLauncher:
        """Workers: Lambda invocations for Functions that fit Lambda (unless the
        deployment turned that target off), else AWS Batch array jobs."""
        from skyrun.backends.aws import lambda_functions

        if lambda_functions.enabled(self):
            from skyrun.backends.aws.lambda_launcher import LambdaLauncher

            return LambdaLauncher(self)
        from skyrun.backends.aws.launcher import BatchLauncher

        return BatchLauncher(self)

    def job_environment(self) -> dict[str, str]:
        """What code inside a job needs to reach this deployment without CloudFormation:
        the backend, the deployment name and every output."""
        env = {"SKYRUN_BACKEND": "aws"}
        if self.deployment:
            env[res.DEPLOYMENT_VARIABLE] = self.deployment
        for key, value in self.outputs.items():
            if key in res.OUTPUTS:
                env[res.environment_variable(key)] = value
        return env

    # -- finding the deployment ---------------------------------------------------------
    @classmethod
    def from_environment(cls) -> AwsBackend:
        """The deployment the environment names.

        Every ``SKYRUN_<OUTPUT>`` variable set (as inside a job or a Lambda function):
        those values. Otherwise the outputs of the stacks of ``$SKYRUN_STACK`` (or of
        ``"stack"`` in ``$SKYRUN_HOME/config.json``), read from CloudFormation.
        """
        deployment = deployment_name()
        try:
            outputs = res.outputs_from_environment(os.environ, res.OUTPUTS)
            return cls(outputs, deployment)
        except LookupError:
            pass
        if deployment is None:
            raise ValidationError.single(
                res.DEPLOYMENT_VARIABLE,
                "no skyrun deployment is configured for the aws backend; set SKYRUN_STACK to "
                "the deployment name given to 'cdk deploy' (default 'skyrun'), or write "
                f'{{"stack": "<name>"}} to {config.home() / CONFIG_FILE}')
        from skyrun.backends.aws.errors import error_code, translate

        cloudformation = new_client("cloudformation")
        try:
            outputs = res.load_outputs(cloudformation, deployment)
        except LookupError as exc:
            raise ValidationError.single(res.DEPLOYMENT_VARIABLE, str(exc)) from None
        except Exception as exc:
            if error_code(exc) == "ValidationError":  # CloudFormation: no such stack
                raise ValidationError.single(
                    res.DEPLOYMENT_VARIABLE,
                    f"the skyrun deployment {deployment!r} was not found in this account "
                    f"and region ({exc}); check SKYRUN_STACK and the AWS region, or deploy "
                    "it with 'cdk deploy --all'") from None
            raise translate(exc) from exc
        return cls(outputs, deployment)

    def __repr__(self) -> str:
        return f"AwsBackend(deployment={self.deployment!r})"


def deployment_name() -> str | None:
    """``$SKYRUN_STACK``, else ``"stack"`` in ``$SKYRUN_HOME/config.json``, else None."""
    name = os.environ.get(res.DEPLOYMENT_VARIABLE, "").strip()
    if not name:
        path = config.home() / CONFIG_FILE
        try:
            name = str(json.loads(path.read_text()).get("stack") or "").strip()
        except (OSError, ValueError, AttributeError):
            name = ""
    if not name:
        return None
    try:
        return res.validate_deployment_name(name)
    except ValueError as exc:
        raise ValidationError.single(res.DEPLOYMENT_VARIABLE, str(exc)) from None
