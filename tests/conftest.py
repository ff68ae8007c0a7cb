"""Test fixtures: a private SKYRUN_HOME for the run, a namespace per test on the backend
the test runs on, and cleanup of every process the tests started.

Where a test runs is told by its path:

- ``tests/conformance/``: every test runs once per backend of ``SKYRUN_TEST_BACKENDS``
  (default both; ``local`` or ``aws`` runs one only), through the one ``skyrun_backend``
  fixture: ``test_x[local]`` on the embedded backend, ``test_x[aws]`` on the offline
  sandbox of the AWS backend (one :class:`skyrun.sandbox.Sandbox` per run, started when
  the first aws test needs it) or, for the port suites of ``conformance/ports``, on the
  adapters themselves over moto.
- ``tests/local/``, ``tests/cli/``, ``tests/ui/``: the embedded backend only.
- ``tests/aws/``: the AWS backend only (moto, the sandbox); ``tests/infra/``: the CDK app.
"""

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
from tests.stores import aws_backend, aws_outputs, local_backend, moto  # noqa: F401 (fixtures)

BACKENDS = ("local", "aws")
#: The test directory whose behaviour every backend must show.
CONFORMANCE = "conformance"
#: The sandbox's schedules (the reconciler) tick this often, so that lost workers are
#: found within seconds rather than the deployment's minute.
RECONCILE_SECONDS = 2.0
#: Workers leave soon after their last job so that runs do not pile up processes.
WORKER_IDLE_SECONDS = "3"
#: CPUs and memory (MB) the embedded backend admits workers for during the tests: 64
#: workers of the default size, whatever else runs on the machine (the memory available
#: moves with the other test processes, and idle workers of earlier tests keep their
#: reservations for a few seconds).
LOCAL_CPUS = "64"
LOCAL_MEMORY = str(64 * 2048)
#: Claims (and slots, and the sandbox's worker leases) run out this soon after a worker
#: is lost in the tests that ask for ``short_leases``, instead of the deployment's 10 s:
#: the lost-worker tests wait for it several times in a row. Only there: on a loaded
#: machine a renewal a few seconds late would make a live worker's job run twice.
LEASE_SECONDS = "5"


def selected_backends() -> tuple[str, ...]:
    """The backends of ``$SKYRUN_TEST_BACKENDS`` (comma-separated; default both)."""
    raw = os.environ.get("SKYRUN_TEST_BACKENDS", "").strip()
    if not raw:
        return BACKENDS
    chosen = tuple(b.strip() for b in raw.split(",") if b.strip())
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"SKYRUN_TEST_BACKENDS: unknown backends {sorted(unknown)}; "
                                f"allowed: {', '.join(BACKENDS)}")
    return chosen


def is_conformance(module) -> bool:
    parts = module.__name__.split(".")
    return len(parts) >= 3 and parts[0] == "tests" and parts[1] == CONFORMANCE


def pytest_collection_finish(session):
    """A conformance test that does not run per backend is in the wrong directory."""
    stray = [item.nodeid for item in session.items
             if getattr(item, "module", None) is not None and is_conformance(item.module)
             and "skyrun_backend" not in getattr(item, "fixturenames", ())]
    if stray:
        raise pytest.UsageError("tests under tests/conformance must run on each backend "
                                f"(use skyrun_backend, or move them): {stray}")


def pytest_generate_tests(metafunc):
    """Conformance tests run once per backend: ``test_x[local]``, ``test_x[aws]``."""
    if "skyrun_backend" not in metafunc.fixturenames or not is_conformance(metafunc.module):
        return
    metafunc.parametrize("skyrun_backend", selected_backends(), scope="function")


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
                                          "SKYRUN_BACKEND", "SKYRUN_LOCAL_CPUS",
                                          "SKYRUN_LOCAL_MEMORY", "SKYRUN_LEASE_SECONDS")}
    os.environ["SKYRUN_HOME"] = str(home)
    os.environ["SKYRUN_BACKEND"] = "local"
    os.environ["SKYRUN_WORKER_IDLE_SECONDS"] = WORKER_IDLE_SECONDS
    os.environ.pop("SKYRUN_LEASE_SECONDS", None)  # the product's default, unless asked
    # The suite's Functions ask for 1 CPU each by default; tests of maximum_concurrency
    # need more than this machine's CPUs admitted (tests/local tests the admission).
    os.environ["SKYRUN_LOCAL_CPUS"] = LOCAL_CPUS
    os.environ["SKYRUN_LOCAL_MEMORY"] = LOCAL_MEMORY
    yield home
    kill_processes_under(str(home))
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def kill_processes_under(marker: str, endpoint: str | None = None) -> None:
    """Kill every process whose command line or environment mentions ``marker`` (a
    directory: workers, executors, builds), or whose ``AWS_ENDPOINT_URL`` is
    ``endpoint`` (everything a sandbox started: workers, handlers)."""
    victims = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid == me:
                continue
            if any(marker in part for part in proc.info["cmdline"] or []):
                victims.append(proc)
                continue
            try:
                environ = proc.environ()
            except psutil.Error:
                continue
            if (any(marker in value for value in environ.values())
                    or (endpoint and environ.get("AWS_ENDPOINT_URL") == endpoint)):
                victims.append(proc)
        except psutil.Error:
            pass
    for proc in victims:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=5)


@pytest.fixture(scope="session")
def skyrun_sandbox(skyrun_home, tmp_path_factory):
    """The AWS backend's offline sandbox, started by the first aws test that needs it and
    stopped, with everything it started, at the end of the run."""
    from skyrun.sandbox import Sandbox

    home = tmp_path_factory.mktemp("skyrun-sandbox")
    sandbox = Sandbox(home=home, schedule_seconds=RECONCILE_SECONDS,
                      environment={"SKYRUN_WORKER_IDLE_SECONDS": WORKER_IDLE_SECONDS})
    sandbox.start()
    endpoint = sandbox.server.endpoint
    server_pid = sandbox.server.pid
    try:
        yield sandbox
    finally:
        sandbox.stop()
        kill_processes_under(str(home), endpoint)
        if server_pid and psutil.pid_exists(server_pid):
            try:
                psutil.Process(server_pid).kill()
            except psutil.Error:
                pass


@pytest.fixture
def skyrun_backend() -> str:
    """The backend a test runs on (``local`` unless the test is parametrized)."""
    return "local"


@pytest.fixture
def backend_environment(skyrun_backend, request, monkeypatch) -> dict[str, str]:
    """The variables that select the test's backend, set for the test only."""
    if skyrun_backend == "local":
        return {"SKYRUN_BACKEND": "local"}
    sandbox = request.getfixturevalue("skyrun_sandbox")
    env = sandbox.environment
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        if name not in env:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(autouse=True)
def namespace(skyrun_home, skyrun_backend, backend_environment, monkeypatch):
    """A fresh namespace (user) per test, as the default client's identity, on the
    test's backend."""
    user = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("SKYRUN_USER", user)
    # An explicit org wins over the AWS account, as inside a job: the tests see the same
    # namespaces on both backends.
    org = "test"
    client = ComputeClient(backend=skyrun_backend,
                           auth=Auth(org=org, user=user, backend=skyrun_backend))
    ComputeClient.set_default_client(client)
    yield client
    ComputeClient.set_default_client(None)


@pytest.fixture
def short_leases(monkeypatch) -> float:
    """``SKYRUN_LEASE_SECONDS`` of :data:`LEASE_SECONDS` for this test: the workers its
    SDK starts (local processes inherit it; the AWS launcher passes it on to Batch
    workers) claim with it, and the SDK's reaper judges by it."""
    monkeypatch.setenv("SKYRUN_LEASE_SECONDS", LEASE_SECONDS)
    return float(LEASE_SECONDS)


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


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A directory on sys.path for test packages, also the working directory (the
    packaging tests of tests/conformance/environments and tests/local)."""
    path = tmp_path / "src"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.chdir(tmp_path)
    return path
