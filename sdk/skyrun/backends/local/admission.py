"""Admission of local worker processes by the CPUs and memory their Functions ask for.

The embedded backend is a one-node cluster: a worker runs one job at a time, so a
worker process holds a reservation of its Function's ``cpus`` and ``memory`` for as long
as it lives. The reservations of all the Functions of a ``SKYRUN_HOME`` together stay
within the machine: the sum of ``cpus`` within its CPUs, the sum of ``memory`` within its
available memory (``SKYRUN_LOCAL_CPUS`` and ``SKYRUN_LOCAL_MEMORY``, in CPUs and MB,
override both). Jobs beyond that stay ``pending`` until a worker leaves and hands its
share on.

A reservation is the worker's row in the ``workers`` table, taken by the launcher under
a machine-wide file lock before the process starts and dropped when the worker leaves;
the row of a process that died is swept at the next admission, so a killed worker frees
its share without anybody's help.

A Function that asks for more than the whole machine is not refused (a Function written
for AWS must still run on a laptop): it runs one job at a time, alone, with a
:class:`CapacityWarning`.
"""

from __future__ import annotations

import fcntl
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skyrun.backends.local.database import Database
from skyrun.exceptions import ValidationError

CPUS_VARIABLE = "SKYRUN_LOCAL_CPUS"
MEMORY_VARIABLE = "SKYRUN_LOCAL_MEMORY"
# Floating point sums of quarter CPUs must not refuse the last exact fit.
_EPSILON = 1e-6
# An idle worker leaves for a waiting Function only after this long without a job, so
# that a worker between two jobs of a busy Function is not taken for an idle one.
IDLE_BEFORE_YIELD = 0.5

# The Functions whose workers could not all be admitted: scheduler scratch state, not
# part of the versioned schema (nothing is lost if it is dropped; it is rebuilt by the
# next ``map()`` or wait).
_WAITS_TABLE = """
CREATE TABLE IF NOT EXISTS admission_waits (
    function_id TEXT PRIMARY KEY,
    since REAL NOT NULL
)
"""


class CapacityWarning(UserWarning):
    """A Function asks for more CPUs or memory than the machine has: its jobs run one at
    a time, with nothing else beside them."""


def _number(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        unit = "CPUs" if name == CPUS_VARIABLE else "MB"
        raise ValidationError.single(
            name, f"{raw!r} is not a valid amount; allowed: a positive number of {unit}")
    return value


def capacity() -> tuple[float, float]:
    """The machine's ``(cpus, memory in MB)`` that workers may reserve: the CPUs this
    process may run on and the memory available now, unless overridden by
    ``SKYRUN_LOCAL_CPUS`` / ``SKYRUN_LOCAL_MEMORY``."""
    cpus = _number(CPUS_VARIABLE)
    if cpus is None:
        try:
            cpus = float(len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            cpus = float(os.cpu_count() or 1)
    memory = _number(MEMORY_VARIABLE)
    if memory is None:
        import psutil  # here, not with the module: off a worker's start (15 ms)

        memory = psutil.virtual_memory().available / 2**20
    return cpus, memory


def process_alive(pid: int, started: float) -> bool:
    """Whether the process ``pid`` that started at ``started`` (epoch seconds) still runs."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # A recycled pid belongs to a process that started later.
        return bool(abs(proc.create_time() - started) < 1.0)
    except psutil.Error:
        return False


class Admission:
    """The machine-wide ledger of worker reservations of one ``SKYRUN_HOME``."""

    def __init__(self, db: Database, home: Path):
        self.db = db
        self.lock_path = Path(home) / "admission.lock"
        self._warned: set[str] = set()
        self._ready = False
        # A mistyped override is reported when the backend opens, before anything is
        # stored, not at the first launch.
        _number(CPUS_VARIABLE)
        _number(MEMORY_VARIABLE)

    def _table(self) -> None:
        if not self._ready:
            self.db.connection().execute(_WAITS_TABLE)
            self._ready = True

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the machine-wide admission lock (a file lock: released by the kernel if
        the holder dies)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def reserved(self) -> tuple[int, float, float]:
        """``(live workers, cpus, memory MB)`` reserved now; sweeps the reservations of
        dead processes."""
        rows = self.db.connection().execute(
            "SELECT w.id, w.pid, w.started, f.cpus, f.memory FROM workers w "
            "LEFT JOIN functions f ON f.id = w.function_id").fetchall()
        dead = {r["id"] for r in rows if not process_alive(r["pid"], r["started"])}
        if dead:
            with self.db.transaction() as tx:
                tx.executemany("DELETE FROM workers WHERE id = ?", [(d,) for d in dead])
        live = [r for r in rows if r["id"] not in dead]
        return (len(live), sum(float(r["cpus"] or 0) for r in live),
                sum(float(r["memory"] or 0) for r in live))

    def admit(self, function: dict[str, Any], count: int) -> int:
        """How many of ``count`` new workers of ``function`` fit beside the live ones
        (call under :meth:`locked`, and record the started workers before leaving it).
        Records the Function as waiting when some do not fit."""
        self._table()
        cap_cpus, cap_memory = capacity()
        cpus, memory = float(function["cpus"]), float(function["memory"])
        alone = cpus > cap_cpus + _EPSILON or memory > cap_memory
        if alone:
            self._warn(function, cap_cpus, cap_memory)
        live, used_cpus, used_memory = self.reserved()
        admitted = 0
        while admitted < count:
            if live == 0:
                pass  # an empty machine always takes one worker, however big
            elif alone or (used_cpus + cpus > cap_cpus + _EPSILON
                           or used_memory + memory > cap_memory):
                break
            admitted += 1
            live, used_cpus, used_memory = live + 1, used_cpus + cpus, used_memory + memory
            if alone:
                break
        with self.db.transaction() as tx:
            if admitted < count:
                tx.execute("INSERT OR IGNORE INTO admission_waits (function_id, since) "
                           "VALUES (?, ?)", (function["id"], time.time()))
            else:
                tx.execute("DELETE FROM admission_waits WHERE function_id = ?",
                           (function["id"],))
        return admitted

    def waiting(self) -> list[str]:
        """Ids of the Functions that wait for capacity, longest waiting first."""
        self._table()
        return [r[0] for r in self.db.connection().execute(
            "SELECT function_id FROM admission_waits ORDER BY since")]

    def others_wait(self, function_id: str) -> bool:
        """Whether a Function other than ``function_id`` waits for capacity."""
        self._table()
        return self.db.connection().execute(
            "SELECT 1 FROM admission_waits WHERE function_id != ? LIMIT 1",
            (function_id,)).fetchone() is not None

    def hand_off(self, start: Callable[[str], None] | None, also: str | None = None) -> None:
        """Capacity was freed: ask ``start`` for the workers of each waiting Function (and
        of ``also``), which admits what now fits and records what still waits."""
        if start is None:
            return
        self._table()
        waiting = self.waiting()
        if waiting:
            with self.db.transaction() as tx:
                # Cleared first: a Function that no longer needs workers stops waiting;
                # one that still does is recorded again by its admission.
                tx.executemany("DELETE FROM admission_waits WHERE function_id = ?",
                               [(f,) for f in waiting])
        for function_id in dict.fromkeys(waiting + ([also] if also else [])):
            try:
                start(function_id)
            except Exception as exc:  # one Function's trouble must not strand the others
                warnings.warn(f"skyrun: could not start workers of Function {function_id}: "
                              f"{exc}", RuntimeWarning, stacklevel=2)

    def _warn(self, function: dict[str, Any], cap_cpus: float, cap_memory: float) -> None:
        if function["id"] in self._warned:
            return
        self._warned.add(function["id"])
        warnings.warn(
            f"Function {function['id']} asks for cpus={_fmt(function['cpus'])} and "
            f"memory={int(function['memory'])} MB, more than this machine offers "
            f"({_fmt(cap_cpus)} CPUs, {int(cap_memory)} MB available; override with "
            f"{CPUS_VARIABLE} and {MEMORY_VARIABLE}): its jobs run one at a time, alone",
            CapacityWarning, stacklevel=4)


def _fmt(value: float | str) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"
