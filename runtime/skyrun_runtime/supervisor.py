"""The worker's handle on its executor child: start it, give it a job, watch it, kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from multiprocessing.connection import Connection

import psutil

from skyrun_runtime.protocol import END_MARK, ENV_CONTROL_FDS


class ExecutorProcess:
    """One executor child and the thread that reads its output."""

    def __init__(self, python: str, bundle_dir: str, cpus: float, env: dict[str, str]):
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        env = dict(env, PYTHONUNBUFFERED="1")  # lines reach the log as they are printed
        env[ENV_CONTROL_FDS] = f"{req_r},{rep_w}"
        self.started = time.time()
        self.proc = subprocess.Popen(
            [python, "-m", "skyrun_runtime.executor", bundle_dir, str(cpus)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(req_r, rep_w), cwd=bundle_dir, env=env,
            start_new_session=True,  # its own group, so a kill reaches the job's children
        )
        os.close(req_r)
        os.close(rep_w)
        self.requests = Connection(req_w, readable=False)
        self.replies = Connection(rep_r, writable=False)
        self._lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._end = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self._ps = psutil.Process(self.proc.pid)
        except psutil.Error:
            self._ps = None

    def _read(self) -> None:
        stream = self.proc.stdout
        for raw in iter(stream.readline, b""):
            if raw == END_MARK:
                self._end.set()
                continue
            if raw.endswith(END_MARK):  # the job's last line had no newline
                raw = raw[: -len(END_MARK)]
                self._add(raw)
                self._end.set()
                continue
            self._add(raw)
        self._end.set()

    def _add(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
        with self._lock:
            self._lines.append((time.time(), text))

    def take_lines(self) -> list[tuple[float, str]]:
        """The output lines read since the last call."""
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def send(self, request: dict) -> None:
        """Start a job."""
        self._end.clear()
        self.requests.send(request)

    def wait_end_mark(self, timeout: float = 2.0) -> None:
        """Wait until every output line of the job has been read."""
        self._end.wait(timeout)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def rss(self, children: bool = True) -> int:
        """Resident memory of the executor (and its children: a scan of every process,
        so not on every job), in bytes."""
        if self._ps is None:
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
        """Kill the executor and everything it started."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(2)
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
        self._reader.join(2)
        self.close()
