"""The Batch stand-in: runs the workers of the jobs submitted to moto's Batch.

moto's Batch (without Docker) records jobs and marks them finished at once; this thread
waits for the jobs submitted to the deployment's queues (the sandbox server tells of
each as it is submitted) and starts, for every new job, one local process per array
child (or one for a plain job) with the job's command and environment (the job
definition's, then the overrides), plus what a Batch container would see
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
from functools import partial
from pathlib import Path
from typing import Any

from skyrun.sandbox.loops import Starts, poll_until_stopped
from skyrun.sandbox.processes import child_environment, kill_group
from skyrun.sandbox.server import BATCH_STOP, BATCH_SUBMIT, Events

logger = logging.getLogger(__name__)

#: The annotation of a sandbox image that names the Python it stands for.
PYTHON_ANNOTATION = "skyrun.sandbox.python"


class BatchStandIn:
    """Runs the workers of moto's Batch jobs as local processes."""

    def __init__(self, client: Callable[[str], Any], queues: list[str],
                 environment: Mapping[str, str], work_dir: Path, repository: str,
                 events: Events, interval: float = 0.5):
        self.client = client
        self.events = events
        self.after = 0
        self.queues = queues
        self.environment = dict(environment)
        self.work_dir = Path(work_dir)
        self.repository = repository
        self.interval = interval
        self.seen: set[str] = set()
        #: Submitted jobs whose workers are yet to start (tried again at the next poll).
        self.starts = Starts("Batch")
        #: Processes by Batch job id (the array job's for its children).
        self.processes: dict[str, list[subprocess.Popen]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-batch", daemon=True)

    def start(self) -> None:
        """Start waiting for jobs."""
        self._thread.start()

    def _run(self) -> None:
        # Each poll waits for a job to start or stop.
        poll_until_stopped(self._stop, self.interval, "Batch",
                           lambda: (self.client("batch"), self.client("ecr")), self.poll)

    def poll(self, batch, ecr) -> None:
        """Start the workers of jobs submitted since the last call (waiting up to
        ``interval`` for one); kill those of terminated ones."""
        events, self.after = self.events(self.after, [BATCH_SUBMIT, BATCH_STOP],
                                         self.interval)
        new = [e["job_id"] for e in events if e["kind"] == BATCH_SUBMIT
               and e["job_id"] not in self.seen]
        self.seen.update(new)
        for job_id in new:
            self.starts.add(job_id, job_id)
        for event in events:
            if event["kind"] == BATCH_STOP:
                self.starts.done(event["job_id"])  # stopped before it could start
        waiting = [job_id for job_id, _ in self.starts.waiting()]
        try:
            for ids in (waiting[i:i + 100] for i in range(0, len(waiting), 100)):
                described = batch.describe_jobs(jobs=ids)["jobs"]
                for job in described:
                    if job.get("jobQueue") in self.queues:
                        self.starts.attempt(job["jobId"], partial(self._start, batch, ecr, job))
                    else:
                        self.starts.done(job["jobId"])  # another queue's: not ours
                for job_id in set(ids) - {job["jobId"] for job in described}:
                    self.starts.done(job_id)  # unknown to Batch: nothing to start
        except Exception:
            # The jobs stay waiting for the next poll; this poll's stops are still acted on.
            logger.exception("Batch stand-in: reading submitted jobs")
        with self._lock:
            stopped = [e["job_id"] for e in events if e["kind"] == BATCH_STOP
                       and any(p.poll() is None for p in self.processes.get(e["job_id"], []))]
        for ids in (stopped[i:i + 100] for i in range(0, len(stopped), 100)):
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
        procs: list[subprocess.Popen] = []
        try:
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
        except BaseException:
            # The job is started again whole at the next poll: no child may run twice.
            for proc in procs:
                kill_group(proc, grace=0.5)
            raise
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
