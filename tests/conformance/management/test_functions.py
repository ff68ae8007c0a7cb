"""Managing Functions: settings after save (scenario 11), statistics (13), auto_start,
start and stop (15), enable and disable (16), and the unsaved-Function errors of 6.4."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from skyrun.compute import Function, FunctionStatus, Job, JobStatus
from skyrun.exceptions import ConflictError, ValidationError
from tests.conftest import wait_until

DEADLINE = 90


def echo(x):
    return x


def wait_for_file(gate, limit=60):
    """Block until ``gate`` exists (the test releases the job), or give up."""
    Path(gate + ".started").write_text(str(os.getpid()))
    end = time.monotonic() + limit
    while not os.path.exists(gate):
        if time.monotonic() > end:
            raise TimeoutError(f"{gate} never appeared")
        time.sleep(0.02)
    return "released"


def nap(seconds):
    time.sleep(seconds)
    return "woke"


def statuses(jobs):
    for job in jobs:
        job.refresh()
    return [job.status for job in jobs]


def test_scenario_11_settings_after_save():
    fn = Function(echo, cpus=1, memory=2048)
    fn.save()
    fn.cpus = 4
    fn.memory = "16GB"
    fn.maximum_concurrency = 20
    fn.timeout = 120
    fn.retry_count = 3
    fn.save()
    stored = Function.get(fn.id)
    assert (stored.cpus, stored.memory) == (4.0, 16384)
    assert (stored.maximum_concurrency, stored.timeout, stored.retry_count) == (20, 120, 3)
    assert fn.state == "saved"
    # An unmodified save writes nothing.
    before = Function.get(fn.id).modified_date
    fn.save()
    fn.cpus = 4.0
    fn.save()
    assert Function.get(fn.id).modified_date == before
    with pytest.raises(ValueError, match="Unable to set immutable attribute 'image'"):
        fn.image = fn.image
    # cpus is checked with the stored memory: 16 vCPUs need at least 32 GB.
    fn.cpus = 16
    with pytest.raises(ValidationError, match="memory") as caught:
        fn.save()
    assert "memory" in caught.value.errors
    assert fn.state == "modified"
    fn.memory = "16GB"  # equal to the stored value: still the same pair
    with pytest.raises(ValidationError):
        fn.save()
    after = Function.get(fn.id)
    assert (after.cpus, after.memory, after.modified_date) == (4.0, 16384, before)
    fn.memory = "64GB"
    fn.save()
    assert (Function.get(fn.id).cpus, Function.get(fn.id).memory) == (16.0, 65536)


@pytest.mark.parametrize("field, value", [
    ("maximum_concurrency", 0), ("maximum_concurrency", 1001), ("timeout", 0),
    ("timeout", 1209601), ("retry_count", 11), ("retry_count", -1),
])
def test_changed_settings_are_validated_like_at_creation(field, value):
    fn = Function(echo)
    fn.save()
    setattr(fn, field, value)
    with pytest.raises(ValidationError, match=field) as caught:
        fn.save()
    assert field in caught.value.errors
    assert getattr(Function.get(fn.id), field) != value


def test_two_bad_changes_are_reported_together():
    fn = Function(echo)
    fn.save()
    fn.timeout = 0
    fn.retry_count = 11
    with pytest.raises(ValidationError) as caught:
        fn.save()
    assert set(caught.value.errors) == {"timeout", "retry_count"}
    with pytest.raises(ValueError, match="Unable to assign"):
        fn.memory = "100TB"


def test_new_concurrency_applies_to_later_claims(tmp_path):
    fn = Function(wait_for_file, maximum_concurrency=1)
    gates = [str(tmp_path / f"gate{i}") for i in range(3)]
    jobs = [fn(g) for g in gates]
    wait_until(lambda: Path(gates[0] + ".started").exists() or
               Path(gates[1] + ".started").exists() or Path(gates[2] + ".started").exists(),
               timeout=DEADLINE, message="a first job to start")
    assert Job.search().filter(Job.status == "running").count() == 1
    fn.maximum_concurrency = 3
    fn.save()
    wait_until(lambda: all(Path(g + ".started").exists() for g in gates), timeout=DEADLINE,
               message="all three jobs to run at once")
    assert fn.jobs.filter(Job.status == JobStatus.RUNNING).count() == 3
    for g in gates:
        Path(g).touch()
    fn.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert statuses(jobs) == [JobStatus.SUCCESS] * 3


def test_new_timeout_applies_to_later_jobs():
    fn = Function(nap, timeout=3600)
    fn.save()
    fn.timeout = 1
    fn.save()
    job = fn(60)
    job.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert job.status == JobStatus.TIMEOUT and job.exit_code == 137


def test_job_statistics_has_all_eight_keys():
    fn = Function(echo, auto_start=False)
    fn.save()
    jobs = [fn(i) for i in range(3)]
    jobs[0].cancel()
    fn.refresh(includes="job.statistics")
    assert fn.job_statistics == {"pending": 2, "running": 0, "cancel": 0, "canceling": 0,
                                 "success": 0, "failure": 0, "timeout": 0, "canceled": 1}
    jobs[1].cancel()
    fn.refresh()  # loaded before, so reloaded
    assert fn.job_statistics["canceled"] == 2
    assert Function.get(fn.id).job_statistics is None


def test_scenario_15_auto_start_stop_and_start(tmp_path):
    fn = Function(wait_for_file, auto_start=False, maximum_concurrency=1)
    fn.save()
    assert fn.status == FunctionStatus.STOPPED
    gate = str(tmp_path / "gate")
    first = fn(gate)
    with pytest.raises(TimeoutError):
        fn.wait_for_completion(timeout=1.5, interval=0.2)
    assert statuses([first]) == [JobStatus.PENDING]
    fn.start()
    assert fn.status == FunctionStatus.READY
    wait_until(lambda: statuses([first]) == [JobStatus.RUNNING], timeout=DEADLINE,
               message="the first job to run")
    fn.stop()
    assert fn.status == FunctionStatus.STOPPED
    second = fn(str(tmp_path / "gate2"))  # stopped Functions still take jobs
    Path(gate).touch()  # the active job finishes although the Function is stopped
    first.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert first.status == JobStatus.SUCCESS
    with pytest.raises(TimeoutError):
        fn.wait_for_completion(timeout=1.5, interval=0.2)
    assert statuses([second]) == [JobStatus.PENDING]
    Path(tmp_path / "gate2").touch()
    fn.start()
    second.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert second.status == JobStatus.SUCCESS
    fn.stop()
    fn.stop()  # stopped -> stopped is allowed
    fn.start()
    fn.start()


def test_start_and_stop_outside_ready_or_stopped_conflict():
    failed = Function("os.path.join", requirements=["skyrun-no-such-package-anywhere==1.0"])
    failed.save()  # pip cannot install it: the build fails

    def build_failed():
        failed.refresh()
        return failed.status == FunctionStatus.BUILD_FAILED

    wait_until(build_failed, timeout=120, interval=0.2, message="build_failed")
    with pytest.raises(ConflictError):
        failed.start()
    with pytest.raises(ConflictError):
        failed.stop()
    with pytest.raises(ConflictError):
        failed(1)
    assert Function.get(failed.id).status == FunctionStatus.BUILD_FAILED


def test_scenario_16_disable_and_enable():
    fn = Function(echo, auto_start=False)
    fn.save()
    waiting = fn("still runs")
    canceled = fn("canceled")
    canceled.cancel()
    fn.disable()
    assert Function.get(fn.id).enabled is False and fn.state == "saved"
    with pytest.raises(ConflictError):
        fn("refused")
    with pytest.raises(ConflictError):
        fn.map([[1], [2]])
    with pytest.raises(ConflictError):
        fn.rerun()
    with pytest.raises(ConflictError):
        Job.search().filter(Job.function_id == fn.id).rerun()
    with pytest.raises(ConflictError):
        Job(function_id=fn.id, args=[1]).save()
    assert statuses([canceled]) == [JobStatus.CANCELED]
    assert fn.jobs.count() == 2
    fn.start()
    waiting.wait_for_completion(timeout=DEADLINE, interval=0.1)
    assert waiting.status == JobStatus.SUCCESS and waiting.result() == "still runs"
    fn.enable()
    assert Function.get(fn.id).enabled is True
    assert fn("accepted").status == JobStatus.PENDING
    assert len(fn.rerun()) == 1
    new = Function(echo)
    new.disable()
    assert new.enabled is False and new.state == "new"


@pytest.mark.parametrize("call, text", [
    (lambda f: f.map([[1]]), "Cannot execute"),
    (lambda f: f.rerun(), "Cannot execute"),
    (lambda f: f.refresh(), "Cannot refresh"),
    (lambda f: f.build_log(), "Cannot retrieve logs for"),
    (lambda f: f.start(), "Cannot start"),
    (lambda f: f.stop(), "Cannot start"),
    (lambda f: f.delete(), "Cannot delete"),
    (lambda f: f.cancel_jobs(), "Cannot cancel jobs for"),
    (lambda f: f.delete_jobs(), "Cannot delete jobs for"),
    (lambda f: f.jobs, "Cannot search for jobs for"),
    (lambda f: f.wait_for_completion(), "Cannot wait for"),
    (lambda f: f.as_completed([]), "Cannot retrieve jobs for"),
    (lambda f: f.iter_results(), "Cannot retrieve results for"),
    (lambda f: f.results(), "Cannot retrieve results for"),
])
def test_unsaved_function_errors(call, text):
    fn = Function(echo)
    with pytest.raises(ValueError, match=f"^{text} a Function that has not been saved$"):
        call(fn)
    assert fn.state == "new"
