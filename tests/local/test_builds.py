"""Building environments on the embedded backend: the local builder's shared environment
cache, its detached build processes, failures and pruning."""

from __future__ import annotations

import os

import psutil
import pytest

from skyrun.backends.local import envs
from skyrun.compute import Function, FunctionStatus, JobStatus
from tests.environment_support import FAILING, PACKAGE, finished, uses_idna


def test_build_installs_requirements_and_jobs_submitted_meanwhile_run(builds):
    assert builds.first_save_status == FunctionStatus.BUILDING
    assert "Build of Function uses_idna" in builds.first_log_at_save
    job = builds.during_build
    assert job.status == JobStatus.PENDING
    fn = finished(builds.first)
    assert fn.status == FunctionStatus.READY
    log = fn.build_log()
    assert f"Successfully installed {PACKAGE}" in log or "Reusing the existing" in log
    assert log.rstrip().endswith("Environment ready.")
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == JobStatus.SUCCESS, job.log()
    path, encoded = job.result()
    env_dir = builds.home / "envs" / fn._record["env_hash"]
    assert path.startswith(str(env_dir))
    assert encoded == "example.com"


def test_build_runs_in_a_detached_process(builds):
    assert builds.first_pid is not None
    try:
        proc = psutil.Process(builds.first_pid)
        cmdline = proc.cmdline()
        session = os.getsid(builds.first_pid)
    except (psutil.Error, ProcessLookupError):
        return  # the build already ended: its record is checked elsewhere
    assert str(builds.home) in " ".join(cmdline)
    assert session != os.getsid(0)


def test_same_requirements_at_once_share_one_environment(builds):
    first, twin = finished(builds.first), finished(builds.twin)
    assert twin.status == FunctionStatus.STOPPED  # auto_start=False
    assert first._record["env_hash"] == twin._record["env_hash"]
    logs = [first.build_log(), twin.build_log()]
    assert sum("Successfully installed" in log for log in logs) == 1
    assert sum("Reusing the existing environment" in log for log in logs) == 1


def test_existing_environment_is_reused_at_once(builds):
    finished(builds.first)
    fn = Function(uses_idna, requirements=[f"  {PACKAGE} ", "", "# a comment"])
    fn.save()
    assert fn.status == FunctionStatus.READY
    assert fn._record["env_hash"] == builds.first._record["env_hash"]
    assert "Reusing the existing environment" in fn.build_log()
    assert "pip" not in fn.build_log()
    assert fn().wait_for_completion(timeout=60, interval=0.1) is None


def test_uninstallable_requirement_fails_the_build(builds):
    fn = finished(builds.failing)
    assert fn.status == FunctionStatus.BUILD_FAILED
    log = fn.build_log()
    assert "this-package-does-not-exist-skyrun" in log
    assert "ERROR" in log  # pip's own error
    assert log.rstrip().endswith("Build failed: installing the requirements with pip failed "
                                 "(exit status 1).")
    with pytest.raises(RuntimeError, match=r"Function always_one failed to build\. Check the "
                                           r"build log for more details\."):
        fn.wait_for_completion(timeout=10, interval=0.1)
    with pytest.raises(RuntimeError, match="failed to build"):
        list(fn.as_completed([builds.failing_job], timeout=10, interval=0.1))
    builds.failing_job.refresh()
    assert builds.failing_job.status == JobStatus.PENDING
    # Nothing of the failed environment is left behind.
    cache = envs.EnvironmentCache(builds.home)
    assert not cache.path(cache.hash_for(fn._record["python"], [FAILING])).exists()


def test_executable_is_the_environment_python(builds, namespace):
    fn = finished(builds.first)
    python = namespace.backend.builder.executable(fn._record)
    assert python == str(builds.home / "envs" / fn._record["env_hash"] / "bin" / "python")


def test_prune_removes_only_unused_environments(builds, namespace):
    finished(builds.first)
    cache = envs.EnvironmentCache(builds.home)
    unused = "0" * 24
    (cache.path(unused) / "bin").mkdir(parents=True)
    (cache.path(unused) / envs.MARKER).write_text("{}")
    busy = "1" * 24
    cache.path(busy).mkdir(parents=True)
    with cache.lock(busy):  # being built right now
        removed = envs.prune(namespace.backend)
    assert unused in removed and busy not in removed
    assert not cache.path(unused).exists() and cache.path(busy).exists()
    assert cache.is_ready(builds.first._record["env_hash"])
    assert busy in namespace.backend.builder.prune()
    assert not cache.path(busy).exists()


def test_deleting_a_function_keeps_a_shared_environment(builds):
    finished(builds.first)
    fn = Function(uses_idna, requirements=[PACKAGE])
    fn.save()
    env_hash, fid = fn._record["env_hash"], fn.id
    fn.delete()
    assert envs.EnvironmentCache(builds.home).is_ready(env_hash)
    assert not builds.first._client.backend.builder.log_path(fid).exists()
