"""The CodeBuild stand-in: performs the builds started on moto's CodeBuild, locally.

moto's CodeBuild executes nothing. This thread waits for the builds started on the
deployment's project (the sandbox server tells of each as it starts) and performs each
the way ``infra/skyrun_infra/buildspec.py`` would, with the local environment builder
(:mod:`skyrun.backends.local.envs`) in place of Docker:

* ``function``: the virtual environment of the Python version and the requirements (read
  from S3 as the buildspec does), then an image pushed to moto's ECR under the build's
  tag, whose manifest names that environment's Python (the Batch stand-in runs workers
  with it);
* ``base``: an image per Python version found on this machine.

The build's output goes to its CloudWatch log stream, and its end is delivered as the
"CodeBuild Build State Change" event EventBridge would send, so the ``build_finished``
handler runs as in a deployment.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skyrun.backends.aws import resources as r
from skyrun.sandbox.batch import PYTHON_ANNOTATION
from skyrun.sandbox.loops import poll_until_stopped
from skyrun.sandbox.server import BUILD, Events

logger = logging.getLogger(__name__)


def _manifest(python: str) -> str:
    return json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "0" * 64, "size": 0},
                       "layers": [], "annotations": {PYTHON_ANNOTATION: python}})


class CodeBuildStandIn:
    """Performs the builds of one CodeBuild project on this machine."""

    def __init__(self, client: Callable[[str], Any], project: str, repository: str,
                 home: Path, emit: Callable[[dict], Any], events: Events,
                 interval: float = 0.5):
        self.client = client
        self.events = events
        self.after = 0
        self.project = project
        self.repository = repository
        self.home = Path(home)
        self.emit = emit
        self.interval = interval
        self.seen: set[str] = set()
        self.finished: dict[str, str] = {}  # build id -> status
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, name="sandbox-codebuild",
                                        daemon=True)

    def start(self) -> None:
        """Start waiting for builds."""
        self._thread.start()

    def stop(self) -> None:
        """Stop waiting and wait for builds in progress."""
        self._stop.set()
        for thread in [self._thread, *self._threads]:
            if thread.is_alive():
                thread.join(120)

    def _run(self) -> None:
        poll_until_stopped(self._stop, self.interval, "CodeBuild",
                           lambda: (self.client("codebuild"),), self._poll)

    def _poll(self, codebuild) -> None:
        # Start the builds started since the last call (waiting up to `interval` for one).
        events, self.after = self.events(self.after, [BUILD], self.interval)
        new = [e["build_id"] for e in events
               if e["project"] == self.project and e["build_id"] not in self.seen]
        self.seen.update(new)
        if new:
            for build in codebuild.batch_get_builds(ids=new)["builds"]:
                # A build per thread: one slow install must not hold up others.
                thread = threading.Thread(target=self.perform, args=(build,),
                                          daemon=True, name=f"build-{build['id']}")
                thread.start()
                self._threads.append(thread)

    def perform(self, build: dict) -> str:
        """Perform one build, log it, push its image, and emit its end event."""
        variables = {v["name"]: v["value"] for v in
                     (build.get("environment") or {}).get("environmentVariables") or []}
        log = io.StringIO()
        try:
            ok = self._build(variables, log)
        except Exception as exc:  # reported in the build log, as a failed build
            logger.exception("build %s", build["id"])
            log.write(f"The build failed: {exc}\n")
            ok = False
        status = "SUCCEEDED" if ok else "FAILED"
        logs = build.get("logs") or {}
        group = logs.get("groupName")
        stream = logs.get("streamName") or build["id"].split(":", 1)[1]
        if group:
            self._write_log(group, stream, log.getvalue())
        self.finished[build["id"]] = status
        self.emit({
            "version": "0", "source": "aws.codebuild",
            "detail-type": "CodeBuild Build State Change",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "resources": [build["arn"]],
            "detail": {
                "build-status": status, "project-name": self.project,
                "build-id": build["arn"], "current-phase": "COMPLETED",
                "additional-information": {
                    "build-complete": True,
                    "environment": {"environment-variables": [
                        {"name": k, "value": v, "type": "PLAINTEXT"}
                        for k, v in variables.items()]},
                    "logs": {"group-name": group, "stream-name": stream},
                },
            },
        })
        return status

    def _build(self, variables: dict[str, str], log: io.StringIO) -> bool:
        from skyrun.backends.local.interpreters import find_interpreter

        kind = variables.get(r.BUILD_KIND)
        if kind == r.BUILD_KIND_BASE:
            for version in variables.get(r.BUILD_PYTHON_VERSIONS, "").split():
                python = find_interpreter(version)
                if python is None:
                    log.write(f"No Python {version} on this machine; no base image for it.\n")
                    continue
                log.write(f"Base image for Python {version}: {python}\n")
                self._push(r.base_image_tag(version), python)
            return True
        if kind != r.BUILD_KIND_FUNCTION:
            log.write(f"Unknown {r.BUILD_KIND} {kind!r}; expected base or function\n")
            return False
        version = variables[r.BUILD_PYTHON_VERSION]
        interpreter = find_interpreter(version)
        if interpreter is None:
            log.write(f"Python {version} is not available on this machine.\n")
            return False
        requirements = self._requirements(variables.get(r.BUILD_REQUIREMENTS_URI, ""))
        log.write("Installing the requirements:\n" + "".join(f"{x}\n" for x in requirements))
        from skyrun.backends.local.envs import BuildError, EnvironmentCache

        envs = EnvironmentCache(self.home)
        env_hash = envs.hash_for(version, requirements)
        try:
            with envs.lock(env_hash):
                if envs.is_ready(env_hash):
                    log.write(f"Reusing the local environment {env_hash}.\n")
                else:
                    envs.build(env_hash, interpreter, version, requirements, log)
        except BuildError as exc:
            log.write(f"Build failed: {exc}.\n")
            return False
        self._push(variables[r.BUILD_IMAGE_TAG], str(envs.python(env_hash)))
        log.write(f"Pushed {variables[r.BUILD_IMAGE_TAG]}.\n")
        return True

    def _requirements(self, uri: str) -> list[str]:
        if not uri:
            return []
        bucket, _, key = uri[len("s3://"):].partition("/")
        body = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return [line for line in body.decode().splitlines() if line.strip()]

    def _push(self, tag: str, python: str) -> None:
        ecr = self.client("ecr")
        try:
            ecr.put_image(repositoryName=self.repository, imageTag=tag,
                          imageManifest=_manifest(python))
        except ecr.exceptions.ImageAlreadyExistsException:
            pass  # the same environment, built again

    def _write_log(self, group: str, stream: str, text: str) -> None:
        logs = self.client("logs")
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in text.splitlines() or [""]]
        for i in range(0, len(events), 5000):
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=events[i:i + 5000])
