"""The Batch stand-in: runs the workers of the jobs submitted to moto's Batch.

moto's Batch (without Docker) records jobs and marks them finished at once; this thread
polls ``ListJobs`` on the deployment's queues and starts, for every new job, one local
process per array child (or one for a plain job) with the job's command and environment
(the job definition's, then the overrides), plus what a Batch container would see
(``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ARRAY_INDEX``) and the variables that reach the
moto server. The image's Python is replaced by this machine's: for a function image the
environment the CodeBuild stand-in built (``SKYRUN_EXECUTOR_PYTHON``).

A job terminated with ``TerminateJob`` has its processes killed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from skyrun.sandbox.processes import child_environment, kill_group

logger = logging.getLogger(__name__)

#: The annotation of a sandbox image that names the Python it stands for.
PYTHON_ANNOTATION = "skyrun.sandbox.python"


class BatchStandIn:
    """Polls moto's Batch and runs workers as local processes."""

    def __init__(self, client: Callable[[str], Any], queues: list[str],
                 environment: Mapping[str, str], work_dir: Path, repository: str,
                 interval: float = 0.2):
        self.client = client
        self.queues = queues
        self.environment = dict(environment)
        self.work_dir = Path(work_dir)
        self.repository = repository
        self.interval = interval
        self.seen: set[str] = set()
        #: Processes by Batch job id (the array job's for its children).
        self.processes: dict[str, list[subprocess.Popen]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-batch", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def _run(self) -> None:
        batch = self.client("batch")
        ecr = self.client("ecr")
        while not self._stop.wait(self.interval):
            try:
                self.poll(batch, ecr)
            except Exception:  # the server may be going away; the next poll retries
                if not self._stop.is_set():
                    logger.exception("Batch stand-in")

    def poll(self, batch, ecr) -> None:
        """Start the workers of new jobs; kill those of terminated ones."""
        new = []
        for queue in self.queues:
            for summary in batch.list_jobs(jobQueue=queue)["jobSummaryList"]:
                job_id = summary["jobId"]
                if ":" not in job_id and job_id not in self.seen:  # children come with it
                    self.seen.add(job_id)
                    new.append(job_id)
        for job_id in new:
            for job in batch.describe_jobs(jobs=[job_id])["jobs"]:
                self._start(batch, ecr, job)
        with self._lock:
            running = [j for j, procs in self.processes.items()
                       if any(p.poll() is None for p in procs)]
        for ids in (running[i:i + 100] for i in range(0, len(running), 100)):
            for job in batch.describe_jobs(jobs=ids)["jobs"]:
                if job.get("statusReason"):  # only TerminateJob gives one in moto
                    self.kill(job["jobId"])

    def _start(self, batch, ecr, job: dict) -> None:
        definition = batch.describe_job_definitions(
            jobDefinitions=[job["jobDefinition"]])["jobDefinitions"][0]
        container = definition.get("containerProperties") or {}
        command = list((job.get("container") or {}).get("command")
                       or container.get("command") or [])
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        variables = {e["name"]: e["value"]
                     for e in (job.get("container") or {}).get("environment") or []}
        python = self._image_python(ecr, container.get("image", ""))
        size = (job.get("arrayProperties") or {}).get("size")
        children = [(f"{job['jobId']}:{i}", str(i)) for i in range(size)] if size \
            else [(job["jobId"], None)]
        logs = self.work_dir / "workers"
        logs.mkdir(parents=True, exist_ok=True)
        procs = []
        for child_id, index in children:
            env = child_environment(self.environment, variables, {
                "AWS_BATCH_JOB_ID": child_id, "AWS_BATCH_JOB_ATTEMPT": "1",
                "AWS_BATCH_JQ_NAME": job.get("jobQueue", "").rsplit("/", 1)[-1],
                "SKYRUN_WORK_DIR": str(self.work_dir / "work"),
                **({"AWS_BATCH_JOB_ARRAY_INDEX": index} if index is not None else {}),
                **({"SKYRUN_EXECUTOR_PYTHON": python} if python else {}),
            })
            with open(logs / f"{child_id.replace(':', '-')}.log", "ab") as out:
                procs.append(subprocess.Popen(
                    command, env=env, cwd=self.work_dir, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        with self._lock:
            self.processes[job["jobId"]] = procs

    def _image_python(self, ecr, image: str) -> str | None:
        return image_python(ecr, self.repository, image)

    def kill(self, job_id: str) -> None:
        """Kill the processes of one Batch job."""
        with self._lock:
            procs = self.processes.get(job_id, [])
        for proc in procs:
            if proc.poll() is None:
                kill_group(proc)

    def live(self) -> list[subprocess.Popen]:
        """The worker processes still running."""
        with self._lock:
            return [p for procs in self.processes.values() for p in procs if p.poll() is None]

    def stop(self) -> None:
        """Stop polling and kill every worker."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        with self._lock:
            procs = [p for ps in self.processes.values() for p in ps]
        for proc in procs:
            kill_group(proc, grace=1.0)


def image_python(ecr, repository: str, image: str) -> str | None:
    """The local Python a sandbox image stands for (its manifest names it), or None."""
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else None
    if not tag:
        return None
    try:
        found = ecr.batch_get_image(repositoryName=repository,
                                    imageIds=[{"imageTag": tag}])["images"]
    except Exception:
        return None
    for image_ in found:
        manifest = json.loads(image_.get("imageManifest") or "{}")
        python = (manifest.get("annotations") or {}).get(PYTHON_ANNOTATION)
        if python:
            return python
    return None
