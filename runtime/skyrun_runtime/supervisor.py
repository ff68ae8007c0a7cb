"""The worker's handle on its executor child: start it, give it a job, watch it, kill it.

The executor's output (stdout and stderr on one pipe) and its replies are both read by
the worker's own thread, from one ``poll`` set made once per executor: a no-op job then
costs one wake-up of the worker instead of two (a reader thread's and the main thread's)
and no GIL hand-over between them.

A worker started by the embedded backend's launcher is told its executor's interpreter on
its command line, and starts the executor before its own imports (:func:`prestart`): the
two interpreters' start-ups then overlap instead of adding up on a cold start. For that,
this module loads only the standard library and the protocol when imported (psutil when
memory is first measured).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

from skyrun_runtime.protocol import END_MARK, ENV_CONTROL_FDS, ENV_WORKER_PID, Channel

_CHUNK = 65536
_EVENTS = select.POLLIN | select.POLLHUP | select.POLLERR


class ExecutorProcess:
    """One executor child, its request and reply pipes and its output."""

    def __init__(self, python: str, bundle_dir: str, cpus: float, env: dict[str, str],
                 cwd: str | None = None):
        #: What it was started for: a worker compares it with what its Function needs
        #: before the first job of an executor started ahead of it.
        self.spec = (python, bundle_dir, float(cpus), dict(env))
        #: Whether a job was sent to it.
        self.used = False
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        env = dict(env, PYTHONUNBUFFERED="1")  # lines reach the log as they are printed
        env[ENV_CONTROL_FDS] = f"{req_r},{rep_w}"
        env[ENV_WORKER_PID] = str(os.getpid())
        self.started = time.time()
        # The executor enters the bundle's directory when its first job comes (so it may
        # start before the bundle is unpacked, from ``cwd``).
        self.proc = subprocess.Popen(
            [python, "-m", "skyrun_runtime.executor", bundle_dir, str(cpus)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(req_r, rep_w), cwd=cwd or bundle_dir, env=env,
            start_new_session=True,  # its own group, so a kill reaches the job's children
        )
        os.close(req_r)
        os.close(rep_w)
        self.requests = Channel(req_w)
        self.replies = Channel(rep_r)
        assert self.proc.stdout is not None  # stdout=PIPE
        self._out = self.proc.stdout.fileno()
        # Made once: building a poll set per wait costs more than a no-op job's reply.
        self._poll = select.poll()
        self._poll.register(self._out, _EVENTS)
        self._poll.register(rep_r, _EVENTS)
        self._poll_out = select.poll()
        self._poll_out.register(self._out, _EVENTS)
        self._buffer = b""
        self._eof = False
        self._end = False
        self._lines: list[tuple[float, str]] = []
        self._ps: Any = None  # its psutil.Process, made when memory is first measured

    # -- output -------------------------------------------------------------------------
    def _read_output(self) -> None:
        # One read of what the pipe holds (poll said it is readable), cut into lines.
        try:
            chunk = os.read(self._out, _CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            self._eof = True
            self._poll.unregister(self._out)
            self._poll_out.unregister(self._out)
            if self._buffer:
                self._add(self._buffer)
                self._buffer = b""
            self._end = True
            return
        buffer = self._buffer + chunk
        start = 0
        while True:
            newline = buffer.find(b"\n", start)
            if newline < 0:
                break
            raw = buffer[start:newline + 1]
            start = newline + 1
            if raw.endswith(END_MARK):  # alone, or after a last line without newline
                if len(raw) > len(END_MARK):
                    self._add(raw[:-len(END_MARK)])
                self._end = True
                continue
            self._add(raw)
        self._buffer = buffer[start:]

    def _add(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
        self._lines.append((time.time(), text))

    def _pump(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for output or a reply, reading the output that
        comes; True when a reply (or the reply pipe's end) is waiting."""
        ready = False
        for fd, _ in self._poll.poll(max(0.0, timeout) * 1000):
            if fd == self._out:
                self._read_output()
            else:
                ready = True
        return ready

    def take_lines(self) -> list[tuple[float, str]]:
        """The output lines read since the last call."""
        lines, self._lines = self._lines, []
        return lines

    def _read_for(self, timeout: float) -> bool:
        # Read the output that comes within ``timeout`` seconds; False if none came.
        if self._eof or not self._poll_out.poll(max(0.0, timeout) * 1000):
            return False
        self._read_output()
        return True

    def drain(self) -> None:
        """Read whatever output is waiting now, without blocking."""
        while self._read_for(0):
            pass

    # -- one job ------------------------------------------------------------------------
    def send(self, request: dict) -> None:
        """Start a job (output printed before it is read now, and is not the job's)."""
        self.drain()
        self.take_lines()
        self._end = False
        self.used = True
        self.requests.send(request)

    def wait_reply(self, timeout: float):
        """The job's reply within ``timeout`` seconds: ``("reply", dict)``, ``("crashed",
        None)`` if the executor's reply pipe ended, or ``(None, None)``."""
        deadline = time.monotonic() + timeout
        while True:
            if self._pump(deadline - time.monotonic()):
                try:
                    return "reply", self.replies.recv()
                except (EOFError, OSError):
                    return "crashed", None
            if time.monotonic() >= deadline:
                return None, None

    def wait_end_mark(self, timeout: float = 2.0) -> None:
        """Wait until every output line of the job has been read."""
        deadline = time.monotonic() + timeout
        while not self._end and not self._eof:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_for(left):
                return

    # -- the process --------------------------------------------------------------------
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def rss(self, children: bool = True) -> int:
        """Resident memory of the executor (and its children: a scan of every process,
        so not on every job), in bytes."""
        import psutil  # here, not with the module: off the worker's start (15 ms)

        if self._ps is None:
            # Its pid is still its own: the worker has not reaped it (``alive()`` is
            # asked before every sample).
            try:
                self._ps = psutil.Process(self.proc.pid)
            except psutil.Error:
                return 0
        try:
            total = self._ps.memory_info().rss
            for child in self._ps.children(recursive=True) if children else ():
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            return total
        except psutil.Error:
            return 0

    def kill(self) -> None:
        """Kill the executor and everything it started; the output it wrote before is
        kept for :meth:`take_lines`."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        # The output written before the kill, up to the pipe's end (the job's children,
        # which share the pipe, died with the group).
        deadline = time.monotonic() + 2
        while not self._eof and self._read_for(deadline - time.monotonic()):
            pass
        self.close()

    def close(self) -> None:
        """Release the pipes (the executor exits when its request pipe closes)."""
        for conn in (self.requests, self.replies):
            try:
                conn.close()
            except OSError:
                pass
        if self.proc.stdout:
            try:
                self.proc.stdout.close()
            except OSError:
                pass

    def stop(self) -> None:
        """Let the executor leave (closing its request pipe), killing it if it lingers."""
        try:
            self.requests.close()
        except OSError:
            pass
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.close()


def executor_env() -> dict[str, str]:
    """The executor's starting environment: the worker's, without skyrun's variables and
    without the caller's Python path, so the job's environment shows only its own
    packages plus the skyrun runtime (the same source as this worker's)."""
    from skyrun.common.sources import source_paths

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SKYRUN_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = os.pathsep.join(source_paths())
    env["PYTHONNOUSERSITE"] = "1"
    return env


def bundle_path(function_id: str, home: str | None = None) -> str:
    """Where a worker unpacks the Function's code bundle: under ``SKYRUN_WORK_DIR``, by
    default ``work`` in the worker's ``--home``, else ``~/.skyrun/work``."""
    work = (os.environ.get("SKYRUN_WORK_DIR")
            or (os.path.join(home, "work") if home else None)
            or os.path.join(os.path.expanduser("~"), ".skyrun", "work"))
    return os.path.join(work, "bundles", function_id)


def _option(argv: list[str], name: str) -> str | None:
    # The value of ``--name VALUE`` or ``--name=VALUE`` (the last one given), as argparse
    # would read it from the worker's command line.
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    return value


#: The Function's cpus, which the AWS launcher gives the Batch workers it starts (in
#: the job's overrides) so that they can start their executor at once
#: (``skyrun.backends.aws.launcher``).
EXECUTOR_CPUS_VARIABLE = "SKYRUN_EXECUTOR_CPUS"
#: The interpreter of a Batch worker's executor when not the image's own Python (the
#: offline sandbox's stand-in for the image); ``CodeBuildBuilder.executable`` reads it
#: too.
EXECUTOR_PYTHON_VARIABLE = "SKYRUN_EXECUTOR_PYTHON"


def prestart(argv: list[str]) -> ExecutorProcess | None:
    """Start the executor a worker process will need, from the worker's command line
    and environment alone, before the worker has imported or read anything:
    ``--executor-python`` (the interpreter of the Function's environment, given by the
    embedded backend's launcher) and ``--executor-cpus``, with ``--function`` and
    ``--home``; or, for a Batch worker, ``$SKYRUN_EXECUTOR_CPUS`` from its launch
    with the image's Python (``$SKYRUN_EXECUTOR_PYTHON`` if set). None
    without them, or if it cannot start; the worker then starts its executor at its
    first job, as before.

    The executor waits for its first job before it enters the bundle's directory (which
    the worker may still have to unpack), and the worker checks before that job that the
    executor was started for what the Function needs then (else it replaces it). Like
    any executor it is the worker's child, dies with it (parent-death signal) and leaves
    when the worker closes its request pipe."""
    python = _option(argv, "--executor-python")
    cpus = _option(argv, "--executor-cpus")
    if python is None and cpus is None and os.environ.get(EXECUTOR_CPUS_VARIABLE):
        # What CodeBuildBuilder.executable will name at the first job (not imported here:
        # it would load boto3 before the executor starts).
        cpus = os.environ[EXECUTOR_CPUS_VARIABLE]
        python = os.environ.get(EXECUTOR_PYTHON_VARIABLE) or sys.executable
    function_id = _option(argv, "--function") or os.environ.get("SKYRUN_FUNCTION_ID")
    if not python or not cpus or not function_id:
        return None
    bundle = bundle_path(function_id, _option(argv, "--home"))
    try:
        # Started where the bundle will be unpacked: the directory ``python -m`` puts
        # first on the executor's path until it enters the bundle.
        cwd = os.path.dirname(bundle)
        os.makedirs(cwd, exist_ok=True)
        return ExecutorProcess(python, bundle, float(cpus), executor_env(), cwd=cwd)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
