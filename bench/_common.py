"""Shared set-up of the benchmarks: a throwaway SKYRUN_HOME and machine facts."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager

import cloudpickle
import psutil


def noop(x=None):
    """A job that does nothing."""
    return None


@contextmanager
def fresh_home(idle_seconds: float = 5):
    """A temporary SKYRUN_HOME; workers started under it are killed at the end."""
    home = tempfile.mkdtemp(prefix="skyrun-bench-")
    os.environ["SKYRUN_HOME"] = home
    os.environ["SKYRUN_WORKER_IDLE_SECONDS"] = str(idle_seconds)
    from skyrun.compute import ComputeClient

    ComputeClient.set_default_client(None)
    try:
        yield home
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if any(home in part for part in proc.info["cmdline"] or []):
                    proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        shutil.rmtree(home, ignore_errors=True)


# The benchmark scripts are not importable inside jobs: ship their functions by value.
cloudpickle.register_pickle_by_value(__import__(__name__))


def machine() -> str:
    """One line describing the machine."""
    mem = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}")


def export_revision(rev: str) -> str:
    """The sdk/, runtime/ and infra/ folders and cdk.json of a git revision of this
    repository, unpacked into a temporary folder (for the benchmarks' ``--against``; the
    sandbox synthesizes its templates from infra/)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = tempfile.mkdtemp(prefix="skyrun-bench-rev-")
    archive = subprocess.run(["git", "-C", root, "archive", rev, "sdk", "runtime", "infra",
                              "cdk.json"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target
