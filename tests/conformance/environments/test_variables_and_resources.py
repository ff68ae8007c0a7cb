"""Environment variables of jobs, and what memory and cpus mean locally."""

from __future__ import annotations

import pytest

from skyrun.compute import Function, Job, JobStatus
from skyrun.exceptions import ValidationError


def variables(*names):
    import os

    return {name: os.environ.get(name) for name in names}


def finish(job):
    job.wait_for_completion(timeout=60, interval=0.1)
    return job


def test_scenario_30_job_values_win():
    fn = Function(variables, environment={"A": "1", "B": "2"})
    job = finish(fn("A", "B", "SKYRUN_JOB_ID", "SKYRUN_FUNCTION_ID", environment={"B": "3"}))
    assert job.status == JobStatus.SUCCESS, job.log()
    assert job.result() == {"A": "1", "B": "3", "SKYRUN_JOB_ID": job.id,
                            "SKYRUN_FUNCTION_ID": fn.id}
    jobs = fn.map([["A", "B"], ["A", "B"]], environments=[{"A": "x"}, None])
    results = [finish(j).result() for j in jobs]
    assert results == [{"A": "x", "B": "2"}, {"A": "1", "B": "2"}]


@pytest.mark.parametrize("name", ["SKYRUN_BACKEND", "SKYRUN_HOME", "SKYRUN_STACK", "SKYRUN_ORG",
                                  "SKYRUN_USER", "SKYRUN_FUNCTION_ID", "SKYRUN_JOB_ID",
                                  "SKYRUN_EXECUTOR_FDS", "SKYRUN_WORKER_PID"])
def test_reserved_names_are_refused(name):
    with pytest.raises(ValidationError, match=f"environment: .*sets {name}, reserved"):
        Function(variables, environment={name: "x", "OK": "1"}).save()
    assert Function.search().count() == 0
    fn = Function(variables)
    fn.save()
    with pytest.raises(ValidationError, match=f"job 0: environment sets {name}, reserved"):
        fn(environment={name: "x"})
    with pytest.raises(ValidationError, match=f"job 1: environment sets {name}, reserved"):
        fn.map([[], []], environments=[{}, {name: "x"}])
    fn.environment = {name: "x"}
    with pytest.raises(ValidationError, match="environment: "):
        fn.save()
    assert Function.get(fn.id).environment == {}
    assert Job.search().count() == 0


def test_thread_variables_follow_cpus_unless_set():
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

    def threads():
        import os

        return [os.environ.get(n) for n in names] + [len(os.sched_getaffinity(0))]

    quarter = finish(Function(threads, cpus=0.25, memory=512)())
    assert quarter.result() == ["1", "1", "1", 1]
    two = Function(threads, cpus=2, memory=4096, environment={"MKL_NUM_THREADS": "7"})
    result = finish(two()).result()
    assert result[:3] == ["2", "7", "2"]
    assert result[3] >= 1


def test_memory_limit_kills_the_job_and_the_worker_goes_on():
    def allocate(mb):
        block = bytearray(mb * 2**20)
        for i in range(0, len(block), 4096):  # touch every page so it is resident
            block[i] = 1
        return len(block)

    fn = Function(allocate, cpus=0.25, memory=512, maximum_concurrency=1)
    big = fn(2000)
    small = fn(10)
    finish(big)
    assert big.status == JobStatus.FAILURE
    assert "memory" in big.error_reason and "512 MB" in big.error_reason
    assert big.exit_code == 137
    assert "more than its memory limit of 512 MB" in big.log()
    finish(small)
    assert small.status == JobStatus.SUCCESS, small.log()
    assert small.result() == 10 * 2**20
