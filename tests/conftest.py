"""Test fixtures: a private SKYRUN_HOME for the run, a namespace per test, and cleanup of
every process the tests started."""

from __future__ import annotations

import os
import signal
import time
import uuid

import cloudpickle
import psutil
import pytest

from skyrun.auth import Auth
from skyrun.compute import ComputeClient


def pytest_collection_modifyitems(session, config, items):
    """Test modules are not importable inside jobs: ship their functions by value."""
    for module in {item.module for item in items if getattr(item, "module", None)}:
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            pass  # already registered


@pytest.fixture(scope="session", autouse=True)
def skyrun_home(tmp_path_factory):
    """One SKYRUN_HOME for the whole run; at the end, kill what is still running there."""
    home = tmp_path_factory.mktemp("skyrun-home")
    old = {k: os.environ.get(k) for k in ("SKYRUN_HOME", "SKYRUN_WORKER_IDLE_SECONDS",
                                          "SKYRUN_BACKEND")}
    os.environ["SKYRUN_HOME"] = str(home)
    os.environ["SKYRUN_BACKEND"] = "local"
    # Workers leave soon after their last job so that runs do not pile up processes.
    os.environ["SKYRUN_WORKER_IDLE_SECONDS"] = "3"
    yield home
    kill_processes_under(str(home))
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def kill_processes_under(marker: str) -> None:
    """Kill every process whose command line mentions ``marker`` (workers, executors)."""
    victims = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and any(marker in part for part in proc.info["cmdline"] or []):
                victims.append(proc)
        except psutil.Error:
            pass
    for proc in victims:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=5)


@pytest.fixture(autouse=True)
def namespace(skyrun_home):
    """A fresh namespace (user) per test, as the default client's identity."""
    user = f"t{uuid.uuid4().hex[:10]}"
    old = os.environ.get("SKYRUN_USER")
    os.environ["SKYRUN_USER"] = user
    client = ComputeClient(auth=Auth(org="test", user=user))
    ComputeClient.set_default_client(client)
    yield client
    ComputeClient.set_default_client(None)
    if old is None:
        os.environ.pop("SKYRUN_USER", None)
    else:
        os.environ["SKYRUN_USER"] = old


def wait_until(predicate, timeout: float = 30, interval: float = 0.05, message: str = ""):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)
