"""The sandbox's Lambda and EventBridge: run the templates' handlers as local processes.

A handler runs in a Python process of its own with the function's environment from the
template (the deployment's resource names) plus the variables that reach the moto
server, as Lambda would run it; the process stays warm for the function's next
invocations, as Lambda keeps an execution environment (the reconciler ticks every few
seconds in the tests: a fresh interpreter each time cost a good share of a core).
Events are matched against the rules' patterns; schedule rules (``rate(...)``) tick on a
thread.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from skyrun.sandbox.processes import child_environment, kill_group
from skyrun.sandbox.provision import Deployed, LambdaFunction

logger = logging.getLogger(__name__)

# A warm handler process, as Lambda keeps an execution environment for the invocations
# that follow: it imports the handler once, then reads one JSON event per line on stdin
# and answers each on a pipe of its own (the file descriptor in its second argument)
# with one JSON line: the handler's return value, whether it raised, and what it
# printed or logged meanwhile.
_WARM = """\
import contextlib, importlib, io, json, os, sys, traceback
module, _, name = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module), name)
results = os.fdopen(int(sys.argv[2]), "w")
for line in sys.stdin:
    output, ok, value = io.StringIO(), True, None
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            value = handler(json.loads(line), None)
        except BaseException:
            ok = False
            traceback.print_exc()
    try:  # the request counts of this invocation, for the benchmarks
        from skyrun.backends.aws.session import _RequestCounter
        if _RequestCounter._instance is not None:
            _RequestCounter._instance.save()
    except ImportError:
        pass
    results.write(json.dumps({"ok": ok, "result": value, "output": output.getvalue()},
                             default=str) + "\\n")
    results.flush()
"""


class _Warm:
    """One warm process of a handler; a new one replaces it if it dies."""

    def __init__(self, function: LambdaFunction, env: dict[str, str]):
        self.function = function
        self.env = env
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.results: IO[str] | None = None
        self.errors: IO[str] | None = None
        self.closed = False

    def _start(self) -> None:
        # What the process writes outside of an invocation (a crash) goes to a file: a
        # pipe nobody reads while it runs could fill and stop it.
        self.errors = tempfile.TemporaryFile("w+")
        read, write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WARM, self.function.handler, str(write)],
                env=self.env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=self.errors, text=True, start_new_session=True, pass_fds=(write,))
        finally:
            os.close(write)
        self.results = os.fdopen(read, "r")

    def invoke(self, event: dict) -> tuple[int, str, object]:
        """Run the handler on ``event``: ``(0 or 1, its output, its result)``."""
        with self.lock:
            if self.closed:
                return 1, "the sandbox is stopping", None
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            assert self.proc is not None and self.proc.stdin is not None
            assert self.results is not None and self.errors is not None
            try:
                self.proc.stdin.write(json.dumps(event) + "\n")
                self.proc.stdin.flush()
                line = self.results.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if not line:  # the process died: what it wrote on the way out says why
                self.kill()
                self.errors.seek(0)
                return 1, self.errors.read() or "the handler's process died", None
            answer = json.loads(line)
            return (0 if answer["ok"] else 1), answer["output"], answer["result"]

    def kill(self, close: bool = False) -> None:
        """Kill the process (and anything it started); ``close``: start no other."""
        self.closed = self.closed or close
        if self.proc is not None:
            kill_group(self.proc, grace=1.0)


@dataclass
class Invocation:
    """One run of a handler: what it was given and how it ended."""

    function: str
    handler: str
    event: dict
    returncode: int
    output: str
    value: Any = None

    @property
    def result(self) -> Any:
        """The handler's return value (None if it failed)."""
        return self.value if self.returncode == 0 else None


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
        self._warm: dict[str, _Warm] = {}

    def invoke(self, function: LambdaFunction, event: dict) -> Invocation:
        """Run one handler on ``event`` and wait for it (in the function's warm
        process: one per function, started on its first invocation)."""
        with self._lock:
            warm = self._warm.get(function.name)
            if warm is None:
                warm = self._warm[function.name] = _Warm(
                    function, child_environment(self.environment, function.environment))
        returncode, output, value = warm.invoke(event)
        done = Invocation(function.name, function.handler, event, returncode, output, value)
        if returncode != 0:
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
            warm = list(self._warm.values())
        for handler in warm:
            handler.kill(close=True)
        for thread in self._threads:
            thread.join(30)
