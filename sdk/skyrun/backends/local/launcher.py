"""The process ``Launcher``: workers are detached local processes, tracked in SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skyrun.backends.local.admission import IDLE_BEFORE_YIELD, Admission
from skyrun.backends.local.admission import process_alive as _alive
from skyrun.backends.local.database import Database
from skyrun.backends.ports import Launcher
from skyrun.common.sources import source_paths

_children: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    # Workers are our children until we exit; collect the ones that ended so they do not
    # linger as zombies (which would also look alive to a pid check).
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


def worker_id_for(pid: int) -> str:
    """The id of the worker process ``pid`` on this host."""
    return f"{socket.gethostname()}-{pid}"


class ProcessLauncher(Launcher):
    """Starts ``python -m skyrun_runtime.worker`` processes, detached from the caller, as
    many as the machine admits (:mod:`skyrun.backends.local.admission`)."""

    #: No heartbeats: a worker is alive while its process is (see :meth:`live_workers`).
    heartbeat_seconds: float | None = None

    def __init__(self, db: Database, home: Path):
        self.db = db
        self.home = Path(home)
        self.admission = Admission(db, self.home)
        #: Called with a Function id when capacity is freed and that Function waits for
        #: it (the backend wires it to the lifecycle's ``ensure_workers``).
        self.start_workers: Callable[[str], None] | None = None
        #: The interpreter of a Function's environment (the backend wires it to its
        #: builder): a worker told it starts its executor as it starts itself.
        self.executor_python: Callable[[dict[str, Any]], str] | None = None

    def live_workers(self, function_id: str) -> set[str]:
        """Ids of the Function's workers whose process is alive; forgets dead ones."""
        _reap()
        rows = self.db.connection().execute(
            "SELECT id, pid, started FROM workers WHERE function_id = ?", (function_id,)
        ).fetchall()
        live: set[str] = set()
        dead: list[str] = []
        for row in rows:
            (live.add if _alive(row["pid"], row["started"]) else dead.append)(row["id"])
        if dead:
            with self.db.transaction() as tx:
                tx.executemany("DELETE FROM workers WHERE id = ?", [(d,) for d in dead])
        return live

    def launch(self, function: dict[str, Any], count: int) -> None:
        """Start up to ``count`` worker processes for the Function: as many as fit beside
        the live workers of every Function of the home."""
        if count <= 0:
            return
        with self.admission.locked():
            self._launch(function, self.admission.admit(function, count))

    def _launch(self, function: dict[str, Any], count: int) -> None:
        if count <= 0:
            return
        log_dir = self.home / "workers"
        log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "skyrun_runtime.worker",
                   "--home", str(self.home), "--function", function["id"]]
        command += self._executor_options(function)
        import psutil  # here, not with the module: off a worker's start (15 ms)

        rows = []
        for _ in range(count):
            with open(log_dir / f"{function['id']}.log", "ab") as log:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    close_fds=True, start_new_session=True,  # outlives the caller's session
                    env=_worker_env(),
                )
            _children.append(proc)
            try:
                started = psutil.Process(proc.pid).create_time()
            except psutil.Error:
                continue  # already gone
            rows.append((worker_id_for(proc.pid), function["id"], proc.pid,
                         socket.gethostname(), started))
        with self.db.transaction() as tx:
            tx.executemany("INSERT OR REPLACE INTO workers (id, function_id, pid, host, started)"
                           " VALUES (?, ?, ?, ?, ?)", rows)

    def _executor_options(self, function: dict[str, Any]) -> list[str]:
        # What a worker needs to start its executor before it has read anything
        # (skyrun_runtime.supervisor.prestart); the worker checks it against the Function
        # before the first job, so a setting changed meanwhile costs only that head start.
        if self.executor_python is None:
            return []
        try:
            python = self.executor_python(function)
        except Exception:  # a missing environment: the first job says so, as before
            return []
        return ["--executor-python", python, "--executor-cpus", str(float(function["cpus"]))]

    def register(self, worker_id: str, function_id: str, pid: int | None = None) -> None:
        """Record a worker that was started some other way (e.g. by hand): process
        ``pid``, by default the caller's."""
        import psutil

        pid = os.getpid() if pid is None else pid
        started = psutil.Process(pid).create_time()
        with self.db.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO workers (id, function_id, pid, host, started) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (worker_id, function_id, pid, socket.gethostname(), started))

    def heartbeat(self, worker_id: str, function_id: str) -> None:
        """Nothing to renew: the worker's process is its registration."""

    def unregister(self, worker_id: str, function_id: str | None = None) -> None:
        """Forget a worker that is leaving, and hand its share of the machine on."""
        row = self.db.connection().execute(
            "SELECT function_id FROM workers WHERE id = ?", (worker_id,)).fetchone()
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM workers WHERE id = ?", (worker_id,))
        self.admission.hand_off(self.start_workers, row[0] if row else None)

    def presumed_lost(self, worker_id: str, function_id: str) -> None:
        """Nothing to do: a worker counts as live while its process does."""

    def should_leave(self, worker_id: str, function_id: str, idle_seconds: float) -> bool:
        """Whether an idle worker should leave now to free its share for another Function
        that waits for one."""
        return (idle_seconds >= IDLE_BEFORE_YIELD
                and self.admission.others_wait(function_id))

    def kill_workers(self, function_id: str) -> None:
        """Kill the Function's workers and their executors."""
        rows = self.db.connection().execute(
            "SELECT id, pid, started FROM workers WHERE function_id = ?", (function_id,)
        ).fetchall()
        for row in rows:
            if _alive(row["pid"], row["started"]):
                try:
                    os.killpg(row["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM workers WHERE function_id = ?", (function_id,))
        _reap()
        self.admission.hand_off(self.start_workers)

    def worker_pids(self, function_id: str | None = None) -> list[int]:
        """Pids of recorded workers (all, or of one Function)."""
        query = "SELECT pid FROM workers"
        params: tuple[str, ...] = ()
        if function_id:
            query, params = query + " WHERE function_id = ?", (function_id,)
        return [r[0] for r in self.db.connection().execute(query, params)]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # A worker must import the same skyrun as the SDK that starts it, even when the SDK
    # runs from a source tree that is not installed.
    paths = source_paths()
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env
