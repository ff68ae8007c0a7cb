"""The sandbox's Lambda and EventBridge: run the templates' handlers as local processes.

A handler runs in a fresh Python process with the function's environment from the
template (the deployment's resource names) plus the variables that reach the moto
server, as Lambda would run it. Events are matched against the rules' patterns; schedule
rules (``rate(...)``) tick on a thread.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skyrun.sandbox.processes import child_environment
from skyrun.sandbox.provision import Deployed, LambdaFunction

logger = logging.getLogger(__name__)

# Reads the event on stdin, calls the handler, writes its JSON result on stdout.
_INVOKE = """\
import importlib, json, sys
module, _, name = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module), name)
result = handler(json.load(sys.stdin), None)
sys.stdout.write("\\n" + json.dumps(result, default=str))
"""


@dataclass
class Invocation:
    """One run of a handler: what it was given and how it ended."""

    function: str
    handler: str
    event: dict
    returncode: int
    output: str

    @property
    def result(self) -> Any:
        """The handler's return value (None if it failed)."""
        if self.returncode != 0:
            return None
        try:
            return json.loads(self.output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge's matching of the plain kind the templates use: every key of the
    pattern is in the event, and a list of values means any of them."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any(matches(p, value) for p in pattern) if not isinstance(value, list) \
            else any(matches(pattern, v) for v in value)
    return pattern == value


def rate_seconds(expression: str) -> float | None:
    """Seconds between ticks of ``rate(N unit)``; None for other expressions."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression or "")
    if not m:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return int(m.group(1)) * unit


class Lambdas:
    """Runs the deployment's handlers for events and schedules."""

    def __init__(self, deployed: Deployed, environment: Mapping[str, str],
                 schedule_seconds: float | None = None):
        self.deployed = deployed
        self.environment = dict(environment)
        self.schedule_seconds = schedule_seconds
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: set[subprocess.Popen] = set()

    def invoke(self, function: LambdaFunction, event: dict) -> Invocation:
        """Run one handler on ``event`` and wait for it."""
        env = child_environment(self.environment, function.environment)
        proc = subprocess.Popen([sys.executable, "-c", _INVOKE, function.handler], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        with self._lock:
            self._procs.add(proc)
        try:
            output, _ = proc.communicate(json.dumps(event))
        finally:
            with self._lock:
                self._procs.discard(proc)
        done = Invocation(function.name, function.handler, event, proc.returncode, output)
        if proc.returncode != 0:
            logger.warning("handler %s failed:\n%s", function.handler, output)
        with self._lock:
            self.invocations.append(done)
        return done

    def emit(self, event: dict) -> list[Invocation]:
        """Deliver an event to the targets of every rule whose pattern matches it."""
        done = []
        for rule in self.deployed.rules:
            if rule.pattern and matches(rule.pattern, event):
                for arn in rule.targets:
                    if arn in self.deployed.functions:
                        done.append(self.invoke(self.deployed.functions[arn], event))
        return done

    def start(self) -> None:
        """Start a thread per schedule rule."""
        for rule in self.deployed.rules:
            every = rate_seconds(rule.schedule) if rule.schedule else None
            if every is None:
                continue
            every = self.schedule_seconds or every
            thread = threading.Thread(target=self._tick, args=(rule, every), daemon=True,
                                      name=f"schedule-{rule.name}")
            thread.start()
            self._threads.append(thread)

    def _tick(self, rule, every: float) -> None:
        while not self._stop.wait(every):
            event = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event",
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "resources": [rule.name], "detail": {}}
            for arn in rule.targets:
                if arn in self.deployed.functions and not self._stop.is_set():
                    self.invoke(self.deployed.functions[arn], event)

    def stop(self) -> None:
        """Stop the schedules and any handler still running."""
        self._stop.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            proc.kill()
        for thread in self._threads:
            thread.join(30)
