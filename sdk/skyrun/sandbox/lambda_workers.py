"""The Lambda stand-in: runs the asynchronous invocations of the job Lambda functions.

moto's Lambda (without Docker) runs nothing; the sandbox server records every accepted
``InvocationType=Event`` invocation (:mod:`skyrun.sandbox.server`). This thread waits
for them and starts, for each, one local process that calls the image's handler
(``skyrun_runtime.lambda_handler.handler``) with the event and a context whose remaining
time counts down from the function's ``Timeout`` (or a shorter ``budget``, so that
tests see the time rule at work), in the environment Lambda would give it: the
function's variables, ``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``,
plus the variables that reach the moto server. The image's Python is replaced by the
environment the CodeBuild stand-in built (``SKYRUN_EXECUTOR_PYTHON``), as for Batch.

As Lambda does, an invocation still running when its time is up is killed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from skyrun.sandbox.batch import image_python
from skyrun.sandbox.loops import Starts, poll_until_stopped
from skyrun.sandbox.processes import child_environment, kill_group
from skyrun.sandbox.server import INVOKE, Events

logger = logging.getLogger(__name__)

# Reads the event on stdin and calls the handler with a context counting down.
_INVOKE = """\
import json, sys, time
from skyrun_runtime.lambda_handler import handler
deadline = time.monotonic() + float(sys.argv[1])
class Context:
    aws_request_id = sys.argv[2]
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))
result = handler(json.load(sys.stdin), Context())
sys.stdout.write("\\n" + json.dumps(result) + "\\n")
"""


@dataclass
class LambdaRun:
    """One invocation being run: its function, event, budget and process."""

    function: str
    event: dict
    budget: float
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)

    @property
    def worker_id(self) -> str | None:
        """The worker id the launcher gave the invocation."""
        return self.event.get("worker_id")


class LambdaStandIn:
    """Runs the sandbox server's invocations, each as a local process."""

    def __init__(self, client: Callable[[str], Any], events: Events,
                 environment: Mapping[str, str], work_dir: Path, repository: str,
                 budget: float | None = None, interval: float = 0.2):
        self.client = client
        self.events = events
        self.environment = dict(environment)
        self.work_dir = Path(work_dir)
        self.repository = repository
        self.budget = budget
        self.interval = interval
        self.seen = 0
        #: Invocations yet to start (tried again at the next poll).
        self.starts = Starts("Lambda")
        self.runs: list[LambdaRun] = []
        self._configs: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-lambda", daemon=True)

    def start(self) -> None:
        """Start waiting for invocations."""
        self._thread.start()

    def _run(self) -> None:
        # Each poll waits up to `interval` for an invocation.
        poll_until_stopped(self._stop, self.interval, "Lambda",
                           lambda: (self.client("lambda"), self.client("ecr")), self.poll)

    def poll(self, lambda_client, ecr) -> None:
        """Start the new invocations (waiting up to ``interval`` for one); kill those
        past their time."""
        invocations, self.seen = self.events(self.seen, [INVOKE], self.interval)
        for invocation in invocations:
            self.starts.add(f"invocation {invocation['index']} of {invocation['function']}",
                            invocation)
        for key, invocation in self.starts.waiting():
            self.starts.attempt(key, partial(self._start, lambda_client, ecr, invocation))
        now = time.monotonic()
        with self._lock:
            late = [r for r in self.runs
                    if r.process.poll() is None and now - r.started > r.budget + 1.0]
        for run in late:  # Lambda ends an invocation at its timeout, whatever it does
            kill_group(run.process, grace=0.5)

    def _config(self, lambda_client, name: str) -> dict:
        if name not in self._configs:
            self._configs[name] = lambda_client.get_function_configuration(FunctionName=name)
        return self._configs[name]

    def _start(self, lambda_client, ecr, invocation: dict) -> None:
        name = invocation["function"]
        config = self._config(lambda_client, name)
        event = json.loads(invocation["payload"] or "{}")
        budget = float(config.get("Timeout") or 3)
        if self.budget is not None:
            budget = min(budget, self.budget)
        code = lambda_client.get_function(FunctionName=name).get("Code") or {}
        python = image_python(ecr, self.repository, code.get("ImageUri", ""))
        request_id = f"sandbox-{invocation['index']}"
        env = child_environment(self.environment,
                                (config.get("Environment") or {}).get("Variables") or {}, {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", "")),
            "SKYRUN_WORK_DIR": str(self.work_dir / "work"),
            **({"SKYRUN_EXECUTOR_PYTHON": python} if python else {}),
        })
        logs = self.work_dir / "lambda"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{request_id}.log", "ab") as out:
            proc = subprocess.Popen([sys.executable, "-c", _INVOKE, str(budget), request_id],
                                    env=env, cwd=self.work_dir, stdin=subprocess.PIPE,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        assert proc.stdin is not None  # stdin=PIPE
        try:
            proc.stdin.write(json.dumps(event).encode())
            proc.stdin.close()
        except OSError:
            pass
        with self._lock:
            self.runs.append(LambdaRun(name, event, budget, proc))

    def live(self) -> list[LambdaRun]:
        """The invocations still running."""
        with self._lock:
            return [r for r in self.runs if r.process.poll() is None]

    def kill(self, worker_id: str) -> bool:
        """Kill the invocation running as ``worker_id`` (a lost invocation); whether one
        was running."""
        with self._lock:
            runs = [r for r in self.runs if r.worker_id == worker_id and r.process.poll() is None]
        for run in runs:
            kill_group(run.process, grace=0.0)
        return bool(runs)

    def stop(self) -> None:
        """Stop polling and kill every invocation."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
        with self._lock:
            runs = list(self.runs)
        for run in runs:
            if run.process.poll() is None:
                kill_group(run.process, grace=1.0)
