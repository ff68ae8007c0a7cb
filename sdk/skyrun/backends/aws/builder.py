"""``CodeBuildBuilder``: a Function's environment is an image in ECR, built by CodeBuild.

An image is tagged with the environment hash (:mod:`skyrun.domain.environments`), so
Functions with the same Python version and requirements share it: a build whose image
exists finishes inside ``save()``. Any other build is a StartBuild of the deployment's
project (see ``infra/skyrun_infra/buildspec.py``) with the requirements in S3 under
``builds/``; its end reaches the ``build_finished`` Lambda function (an EventBridge
rule), which calls :func:`finish_from_event`.

The build id of a Function is kept in the leases table (under
:func:`skyrun.backends.aws.leasekeys.build_key`) rather than on its record, so that the
record keeps the fields every backend shares.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from skyrun.backends.aws import jobdefs, lambda_functions
from skyrun.backends.aws import resources as r
from skyrun.backends.aws.leasekeys import build_key
from skyrun.backends.ports import Builder
from skyrun.domain.environments import environment_hash, normalize_requirements
from skyrun.domain.keys import bundle_key
from skyrun.domain.limits import image_python
from skyrun.domain.statuses import BUILDING_STATUSES
from skyrun.engine import lifecycle

if TYPE_CHECKING:
    from skyrun.backends.aws.backend import AwsBackend

logger = logging.getLogger(__name__)

# A build record outlives any build (the project's timeout is an hour).
BUILD_RECORD_SECONDS = 2 * 24 * 3600
_WAITING = BUILDING_STATUSES


def runtime_pins() -> list[str]:
    """What the base image adds to every environment: this version of skyrun, so that an
    upgrade builds new images instead of reusing ones with an older runtime."""
    import skyrun

    return [f"skyrun=={getattr(skyrun, '__version__', '0')}"]


class CodeBuildBuilder(Builder):
    """Images built by the deployment's CodeBuild project, cached in ECR by hash."""

    def __init__(self, backend: AwsBackend) -> None:
        self.backend = backend

    # -- the port -----------------------------------------------------------------------
    def check(self, image: str, requirements: list[str]) -> dict[str, list[str]]:
        """An image whose Python has no base image in the deployment is refused."""
        version = image_python(image)
        if version is None:
            return {}  # reported by the Function's own check
        major, minor = version
        if f"{major}.{minor}" in r.PYTHON_VERSIONS:
            return {}
        available = ", ".join(f"python{v}:latest" for v in r.PYTHON_VERSIONS)
        return {"image": [f"{image} has no base image in this deployment; available: "
                          f"{available}"]}

    def environment_hash(self, function: dict[str, Any], requirements: list[str]) -> str:
        """The hash that tags the Function's image."""
        return environment_hash(function["python"], requirements, runtime_pins())

    def start(self, function: dict[str, Any], requirements: list[str]) -> None:
        """Reuse the image at once if ECR has it, else start a CodeBuild build."""
        fid = function["id"]
        env_hash = self.environment_hash(function, requirements)
        tag = r.function_image_tag(env_hash)
        if self.image_exists(tag):
            log = (f"Build of Function {function.get('name')} ({fid})\n"
                   f"Image: {function['image']}\nEnvironment: {env_hash}\n"
                   f"Reusing the existing image {tag}; nothing to build.\n")
            complete(self.backend, function, env_hash, True, log)
            return
        outputs = self.backend.outputs
        requirements_uri = ""
        lines = normalize_requirements(requirements)
        if lines:
            key = f"{r.BUILDS_PREFIX}{env_hash}/requirements.txt"
            self.backend.client("s3").put_object(Bucket=outputs[r.BUCKET_NAME], Key=key,
                                                 Body=("\n".join(lines) + "\n").encode())
            requirements_uri = f"s3://{outputs[r.BUCKET_NAME]}/{key}"
        variables = {r.BUILD_KIND: r.BUILD_KIND_FUNCTION,
                     r.BUILD_PYTHON_VERSION: function["python"],
                     r.BUILD_IMAGE_TAG: tag,
                     r.BUILD_REQUIREMENTS_URI: requirements_uri,
                     r.BUILD_FUNCTION_ID: fid}
        build = self.backend.client("codebuild").start_build(
            projectName=outputs[r.BUILD_PROJECT_NAME],
            environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"}
                                          for k, v in variables.items()],
        )["build"]
        self._put_build(fid, build["id"], env_hash)

    def live_log(self, function: dict[str, Any]) -> str:
        """The output of the Function's build so far, after a header saying what is being
        built (empty if no build was started)."""
        item = self._get_build(function["id"])
        if item is None:
            return ""
        header = build_log_header(function, item.get("env_hash", ""), item["build_id"])
        builds = self.backend.client("codebuild").batch_get_builds(ids=[item["build_id"]])
        build = (builds.get("builds") or [{}])[0]
        logs = build.get("logs") or {}
        group, stream = self._log_location(item["build_id"], logs.get("groupName"),
                                           logs.get("streamName"))
        return header + read_log(self.backend, group, stream)

    def executable(self, function: dict[str, Any]) -> str:
        """The Python of the worker's image, which has the requirements installed.

        ``SKYRUN_EXECUTOR_PYTHON`` names another interpreter; the offline sandbox sets it
        to the environment it built in place of the image.
        """
        return os.environ.get("SKYRUN_EXECUTOR_PYTHON") or sys.executable

    def remove(self, function: dict[str, Any]) -> None:
        """Deregister the Function's job definition, remove its environment's Lambda
        function if no other Function uses it, and forget its build. The image stays in
        ECR as a cache for equal environments."""
        try:
            jobdefs.deregister(self.backend, function["id"])
        except ClientError as exc:
            logger.warning("could not deregister the job definition of %s: %s",
                           function["id"], exc)
        if lambda_functions.enabled(self.backend):
            try:
                lambda_functions.remove_if_unused(self.backend, function)
            except ClientError as exc:
                logger.warning("could not remove the Lambda function of %s: %s",
                               function.get("env_hash"), exc)
        self.backend.client("dynamodb").delete_item(
            TableName=self.backend.outputs[r.LEASES_TABLE_NAME],
            Key=build_key(function["id"]))

    # -- images and builds --------------------------------------------------------------
    def image_exists(self, tag: str) -> bool:
        """Whether the deployment's repository holds an image tagged ``tag``."""
        ecr = self.backend.client("ecr")
        try:
            found = ecr.describe_images(repositoryName=self.backend.outputs[r.REPOSITORY_NAME],
                                        imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ImageNotFoundException":
                return False
            raise
        return bool(found.get("imageDetails"))

    def _put_build(self, function_id: str, build_id: str, env_hash: str) -> None:
        self.backend.client("dynamodb").put_item(
            TableName=self.backend.outputs[r.LEASES_TABLE_NAME],
            Item={**build_key(function_id),
                  "build_id": {"S": build_id}, "env_hash": {"S": env_hash},
                  r.TTL_ATTRIBUTE: {"N": str(int(time.time() + BUILD_RECORD_SECONDS))}})

    def _get_build(self, function_id: str) -> dict[str, Any] | None:
        item = self.backend.client("dynamodb").get_item(
            TableName=self.backend.outputs[r.LEASES_TABLE_NAME], ConsistentRead=True,
            Key=build_key(function_id)).get("Item")
        if not item:
            return None
        return {"build_id": item["build_id"]["S"], "env_hash": item["env_hash"]["S"]}

    def _log_location(self, build_id: str, group: str | None,
                      stream: str | None) -> tuple[str, str]:
        # CodeBuild writes to the project's group, one stream named by the build's uuid.
        return (group or self.backend.outputs[r.BUILD_LOG_GROUP_NAME],
                stream or build_id.split("/")[-1].split(":", 1)[-1])


def read_log(backend: AwsBackend, group: str, stream: str) -> str:
    """The messages of one CloudWatch log stream, one per line (empty if it is missing)."""
    logs = backend.client("logs")
    lines: list[str] = []
    token = None
    while True:
        kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        try:
            page = logs.get_log_events(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                break
            raise
        lines.extend(e["message"].rstrip("\n") for e in page["events"])
        if not page["events"] or page.get("nextForwardToken") in (None, token):
            break
        token = page["nextForwardToken"]
    return "".join(line + "\n" for line in lines)


def complete(backend: AwsBackend, function: dict[str, Any], env_hash: str, ok: bool,
             log_text: str) -> dict[str, Any] | None:
    """End a build: register the job definition of a good image, then the log and status
    (a job definition that cannot be registered fails the build)."""
    if ok:
        image = jobdefs.image_uri(backend, r.function_image_tag(env_hash))
        try:
            jobdefs.register(backend, function, image)
        except ClientError as exc:
            ok = False
            log_text += f"The job definition could not be registered: {exc}\n"
        if ok and lambda_functions.enabled(backend):
            log_text += _ensure_lambda(backend, function, env_hash, image)
    log_text += "Build succeeded.\n" if ok else "Build failed.\n"
    return lifecycle.finish_build(backend, function, ok, log_text, changes={"env_hash": env_hash})


def _ensure_lambda(backend: AwsBackend, function: dict[str, Any], env_hash: str, image: str) -> str:
    # The Lambda function of the environment; without it the launcher falls back to
    # Batch, so a failure here is reported in the build log but fails nothing.

    try:
        bundle = backend.blobs.get_object(bundle_key(function["id"]))
        name = lambda_functions.ensure(backend, function, env_hash, image, bundle)
    except ClientError as exc:
        return (f"The Lambda function could not be made ({exc}); jobs of this Function "
                "run on Batch.\n")
    return f"Lambda function: {name}\n"


def build_log_header(function: dict[str, Any], env_hash: str, build_id: str) -> str:
    """The first lines of a build log, the same while the build runs and after."""
    return (f"Build of Function {function.get('name')} ({function['id']})\n"
            f"Image: {function['image']}\nEnvironment: {env_hash}\n"
            f"CodeBuild: {build_id.split('/')[-1]}\n")


def finish_from_event(backend: AwsBackend, event: dict[str, Any]) -> dict[str, Any] | None:
    """Handle a CodeBuild "Build State Change" event of a finished build: settle the
    Function it built (status, job definition, build log). Returns the Function record,
    or None when the event concerns no waiting Function (a base image build, a deleted
    Function, or a repeated event)."""
    detail = event.get("detail") or {}
    info = detail.get("additional-information") or {}
    variables = {v["name"]: v.get("value", "") for v in
                 (info.get("environment") or {}).get("environment-variables") or []}
    build_id = detail.get("build-id", "")
    if not variables and build_id:  # an event without them: ask CodeBuild
        builds = backend.client("codebuild").batch_get_builds(
            ids=[build_id.split("/")[-1]]).get("builds") or [{}]
        variables = {v["name"]: v.get("value", "") for v in
                     (builds[0].get("environment") or {}).get("environmentVariables") or []}
    if variables.get(r.BUILD_KIND) != r.BUILD_KIND_FUNCTION:
        logger.info("build %s is not a function build; nothing to do", build_id)
        return None
    function = backend.store.get_function(variables.get(r.BUILD_FUNCTION_ID, ""))
    if function is None or function["status"] not in _WAITING:
        logger.info("build %s: its function is gone or settled already", build_id)
        return None
    tag = variables.get(r.BUILD_IMAGE_TAG, "")
    env_hash = tag[len(r.function_image_tag("")):]
    logs = info.get("logs") or {}
    builder = CodeBuildBuilder(backend)
    group, stream = builder._log_location(build_id, logs.get("group-name"),
                                          logs.get("stream-name"))
    status = detail.get("build-status", "")
    text = build_log_header(function, env_hash, build_id) + read_log(backend, group, stream)
    text += f"CodeBuild finished with status {status}.\n"
    return complete(backend, function, env_hash, status == "SUCCEEDED", text)
