"""Building environments: requirements, caching, failures, build logs, pruning."""

from __future__ import annotations

import os

from skyrun.compute import Function, FunctionStatus, JobStatus
from tests.environment_support import PACKAGE, finished, uses_idna


def test_host_packages_are_not_visible():
    def probe():
        import importlib.util
        import sys

        import cloudpickle  # noqa: F401  the runtime's packages are there

        return [importlib.util.find_spec("idna") is None, sys.prefix != sys.base_prefix]

    import idna  # noqa: F401  installed on the host

    job = Function(probe)()
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == JobStatus.SUCCESS, job.log()
    assert job.result() == [True, True]


def test_jobs_can_use_the_sdk_inside_the_environment():
    def whoami():

        from skyrun.compute import Function

        return Function.get(os.environ["SKYRUN_FUNCTION_ID"]).name

    job = Function(whoami)()
    job.wait_for_completion(timeout=60, interval=0.1)
    assert job.status == JobStatus.SUCCESS, job.log()
    assert job.result() == "whoami"


def test_build_log_during_a_build_is_the_output_so_far(namespace):
    fn = Function(uses_idna, requirements=[f"{PACKAGE}>=2"])
    fn.save()
    seen = fn.build_log()
    assert seen.startswith("Build of Function uses_idna")
    finished(fn)
    assert fn.build_log().startswith(seen)
    assert fn.status == FunctionStatus.READY




