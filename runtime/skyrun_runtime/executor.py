"""The executor: a child process that runs one Function's jobs, one at a time.

It is started by the worker in the Function's environment, loads the entrypoint once, and
is reused between jobs; the worker kills it (and starts another) on a timeout, a cancel or
an exceeded memory limit.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Mapping

# Not the SDK's compute package (a fifth of a second of CPU in a fresh executor, paid by
# its first job): the result type's own module, which imports only json and datetime.
from skyrun.common.results import ComputeResult
from skyrun_runtime.protocol import END_MARK, ENV_CONTROL_FDS, ENV_WORKER_PID, Channel


def _die_with_parent(worker_pid: int | None) -> None:
    # If the worker is killed, its executor must not go on running the job unsupervised.
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    # A worker killed while this process started, before the line above, sent no signal:
    # this process already has another parent then, and must not take the job.
    if worker_pid is not None and os.getppid() != worker_pid:
        os._exit(1)


def _limit_cpus(cpus: float) -> None:
    cores = max(1, math.ceil(cpus))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(cores))
    if hasattr(os, "sched_getaffinity"):
        available = sorted(os.sched_getaffinity(0))
        if len(available) > cores:
            start = os.getpid() % len(available)
            chosen = {available[(start + i) % len(available)] for i in range(cores)}
            os.sched_setaffinity(0, chosen)


def _load_entrypoint(bundle_dir: str):
    with open(os.path.join(bundle_dir, "__skyrun_entrypoint__.json")) as f:
        meta = json.load(f)
    if meta["kind"] == "pickle":
        import cloudpickle

        with open(os.path.join(bundle_dir, "__skyrun_entrypoint__.pkl"), "rb") as f:
            return cloudpickle.load(f)
    import importlib

    parts = meta["name"].split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            if i == 1:
                raise
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise NameError(f"Cannot resolve function name '{meta['name']}'")


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _result_payload(value) -> dict:
    """Serialize a return value as its result blob (raises with the user's message)."""
    if value is None:  # what ComputeResult(None) stores
        return {"data": None, "attrs": {}}
    result = value if isinstance(value, ComputeResult) else ComputeResult(value)
    result.check_limits()
    if result.isnull:
        return {"data": None, "attrs": {}}
    expires: float | None = None
    if result.expires is not None:
        from skyrun.common.timeutil import to_epoch

        expires = to_epoch(result.expires)
    if result.geometry is not None:
        print("skyrun: ComputeResult geometry is not supported and was ignored", file=sys.stderr)
    return {"data": result.data, "attrs": {
        "description": result.description, "expires": expires,
        "extra_properties": result.extra_properties,
        "tags": list(result.tags) if result.tags is not None else None}}


def _finish_output() -> None:
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        sys.stderr.flush()
    except Exception:
        pass
    os.write(1, END_MARK)


class Environment:
    """Gives each job the executor's starting environment plus the job's own variables.

    Each ``putenv``/``unsetenv`` scans the whole process environment, so clearing and
    refilling it costs about 0.3 ms, more than a no-op job. When the last job left the
    environment as it was given (its bytes compare equal), only the variables of the
    last job and of this one are looked at, and only those that differ are set;
    otherwise the environment is rebuilt from scratch.
    """

    def __init__(self, base: Mapping[str, str]):
        self.base = dict(base)
        #: The variables of the last job, over the base, once applied.
        self.extra: dict[str, str] | None = None
        self.snapshot: dict | None = None

    def apply(self, extra: dict[str, str] | None) -> None:
        """Make ``os.environ`` the base environment updated with ``extra``."""
        extra = dict(extra or {})
        data = getattr(os.environ, "_data", None)  # the encoded mapping (CPython)
        last = self.extra
        if last is not None and data is not None and data == self.snapshot:
            base = self.base
            for key in last.keys() - extra.keys():  # the last job's own: back to base
                if key in base:
                    if base[key] != last[key]:
                        os.environ[key] = base[key]
                else:
                    del os.environ[key]
            for key, value in extra.items():
                if last.get(key, base.get(key)) != value:
                    os.environ[key] = value
        else:
            os.environ.clear()
            os.environ.update({**self.base, **extra})
        self.extra = extra
        self.snapshot = dict(data) if data is not None else None


def _inputs(value, empty):
    """A job's args or kwargs as sent: their JSON text, or the values decoded from it
    (the worker sends what its store decoded, rather than encoding it again)."""
    if not value:
        return empty
    return json.loads(value) if isinstance(value, str) else value


def run_job(main, request: dict, base_env: dict | Environment) -> dict:
    """Run one job and describe the outcome."""
    if not isinstance(base_env, Environment):
        base_env = Environment(base_env)
    base_env.apply(request.get("environment"))
    cpu0 = _cpu_seconds()
    started = time.time()
    reply: dict = {"started": started}
    try:
        args = _inputs(request.get("args"), [])
        kwargs = _inputs(request.get("kwargs"), {})
        value = main(*args, **kwargs)
        try:
            reply.update(outcome="success", **_result_payload(value))
        except Exception as exc:
            reply.update(outcome="failure", exit_code=1,
                         error_reason=f"The result could not be stored: {exc}")
            traceback.print_exc()
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            reply.update(outcome="success", data=None, attrs={})
        else:
            status = code if isinstance(code, int) else 1
            if not isinstance(code, int):
                print(code, file=sys.stderr)
            reply.update(outcome="failure", exit_code=status,
                         error_reason=f"The job exited with status {status}")
    except BaseException as exc:  # the user's code may raise anything
        traceback.print_exc()
        reply.update(outcome="failure", exit_code=1,
                     error_reason=f"{type(exc).__name__}: {exc}")
    reply["ended"] = time.time()
    reply["cpu_seconds"] = _cpu_seconds() - cpu0
    reply["rss"] = _rss()
    return reply


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# /proc/self/statm, opened once: each read from its start gives the figures of that
# moment, and opening the file costs more than the rest of a no-op job's reply.
_statm: list[int] = []


def _rss() -> int:
    """This process's resident memory now (cheap: one read of /proc)."""
    try:
        if not _statm:
            _statm.append(os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
        return int(os.pread(_statm[0], 128, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _enter_bundle(bundle_dir: str, start_dir: str) -> None:
    """Work in the bundle's directory, with it first on the path: ``python -m`` put the
    directory the executor started in (the bundle's, or where the worker will unpack it
    when the executor was started ahead of the worker) first on the path; that entry
    becomes the bundle's too."""
    os.chdir(bundle_dir)
    if sys.path and sys.path[0] == start_dir:
        sys.path[0] = os.getcwd()
    sys.path.insert(0, bundle_dir)


def _preload(bundle_dir: str) -> None:
    """Import what loading a pickled entrypoint needs while no job waits (an executor
    started ahead of its worker has the time): cloudpickle, unless the bundle, already
    unpacked, names a module instead. No code of the user's runs here."""
    try:
        with open(os.path.join(bundle_dir, "__skyrun_entrypoint__.json")) as f:
            if json.load(f).get("kind") != "pickle":
                return
    except (OSError, ValueError, AttributeError):
        pass  # not unpacked yet
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        pass  # said by the first job's load


def main() -> None:
    """Entry point: ``python -m skyrun_runtime.executor BUNDLE_DIR CPUS``."""
    worker_pid = os.environ.pop(ENV_WORKER_PID, None)
    _die_with_parent(int(worker_pid) if worker_pid else None)
    bundle_dir, cpus = sys.argv[1], float(sys.argv[2])
    read_fd, write_fd = (int(x) for x in os.environ.pop(ENV_CONTROL_FDS).split(","))
    requests = Channel(read_fd)
    replies = Channel(write_fd)
    start_dir = os.getcwd()
    _limit_cpus(cpus)
    base_env = Environment(os.environ)
    _preload(bundle_dir)
    entry = None
    entered = False
    while True:
        try:
            request = requests.recv()
        except EOFError:
            return  # the worker is gone or done
        pull_time = 0.0
        if entry is None:
            t0 = time.time()
            try:
                if not entered:
                    _enter_bundle(bundle_dir, start_dir)
                    entered = True
                entry = _load_entrypoint(bundle_dir)
            except BaseException as exc:
                traceback.print_exc()
                _finish_output()
                replies.send({"outcome": "failure", "exit_code": 1, "started": t0,
                              "ended": time.time(), "cpu_seconds": 0.0,
                              "error_reason": f"{type(exc).__name__}: {exc}"})
                continue
            pull_time = time.time() - t0
        reply = run_job(entry, request, base_env)
        reply["pull_time"] = pull_time
        _finish_output()
        replies.send(reply)


if __name__ == "__main__":
    main()
