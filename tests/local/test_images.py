"""Images on the embedded backend: the interpreters of this machine a Function can run on."""

from __future__ import annotations

import sys

import pytest

from skyrun.backends.local import interpreters
from skyrun.compute import Function, FunctionStatus, JobStatus
from skyrun.exceptions import ValidationError
from tests.environment_support import OTHER_PYTHON, finished

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def version():
    import sys

    return [f"{sys.version_info[0]}.{sys.version_info[1]}", sys.executable]


# What is available is this machine's interpreters (on AWS: the deployment's base images,
# tested in tests/aws).
def test_unavailable_image_lists_the_available_ones():
    fn = Function("os.path.join", image="python3.99:latest")
    with pytest.raises(ValidationError) as info:
        fn.save()
    message = str(info.value)
    assert "image: python3.99:latest is not available on this machine" in message
    assert f"python{RUNNING}:latest" in message
    assert "available: " in message
    assert list(info.value.errors) == ["image"]
    assert fn.state == "new"
    assert Function.search().count() == 0


def test_dotted_entrypoint_runs_on_another_python(builds):
    assert OTHER_PYTHON in interpreters.available_versions()
    fn = finished(builds.other)
    assert fn.status == FunctionStatus.READY, fn.build_log()
    assert fn.name == "where"
    assert f"Installing the runtime packages for Python {OTHER_PYTHON}" in fn.build_log()
    job = fn()
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == JobStatus.SUCCESS, job.log()
    ran, executable = job.result()
    assert ran == OTHER_PYTHON
    assert executable.startswith(str(builds.home / "envs"))


def test_interpreters_that_do_not_run_are_skipped(tmp_path, monkeypatch):
    # A pyenv shim for a version that is not selected is on PATH but fails to run.
    shim = tmp_path / "python3.98"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.98: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{interpreters.os.environ['PATH']}")
    assert interpreters.find_interpreter("3.98") is None
    assert "3.98" not in interpreters.available_versions()
    assert interpreters.find_interpreter(RUNNING) == sys.executable


def test_versions_older_than_the_runtime_supports_are_unavailable():
    assert interpreters.find_interpreter("3.9") is None
    assert all(tuple(map(int, v.split("."))) >= interpreters.MIN_PYTHON
               for v in interpreters.available_versions())
