"""An executor never outlives its worker: a worker killed in the middle of a job, or just
after it handed a job to an executor that was still starting, takes the executor with it.
Else the job would run twice: once unsupervised, once on the worker that takes it over.

The embedded backend's workers start their executor as they start themselves, before
their first claim (``skyrun_runtime.supervisor.prestart``): the same holds for that
executor, before any job, and the first job runs in it only if it was started for what
the Function needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import psutil
import pytest

from skyrun.backends.local.launcher import worker_id_for
from skyrun.compute import Function, JobStatus
from tests.conftest import wait_until
from tests.support import worker_processes

# A stand-in worker: starts an executor, hands it a job at once (the executor reads it
# once it has started), says the executor's pid, then waits to be killed.
WORKER = textwrap.dedent("""
    import json, os, sys, time
    from skyrun_runtime.supervisor import ExecutorProcess
    executor = ExecutorProcess(sys.executable, sys.argv[1], 1.0, dict(os.environ))
    executor.send({"args": json.dumps([sys.argv[2]])})
    print(executor.proc.pid, flush=True)
    time.sleep(120)
""")

# The job: mark that it runs, then run for a minute.
JOB = textwrap.dedent("""
    import time

    def main(mark):
        open(mark, "w").close()
        time.sleep(60)
""")


@pytest.mark.parametrize("when", ["starting", "running"])
def test_killing_a_worker_kills_its_executor(tmp_path, when):
    bundle, mark = tmp_path / "bundle", tmp_path / "mark"
    bundle.mkdir()
    (bundle / "job.py").write_text(JOB)
    (bundle / "__skyrun_entrypoint__.json").write_text(json.dumps({"kind": "module",
                                                                   "name": "job.main"}))
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(bundle), str(mark)],
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    executor = None
    try:
        executor = psutil.Process(int(worker.stdout.readline()))
        if when == "running":
            wait_until(mark.exists, timeout=30, message="the job to start")
        worker.kill()  # for "starting", before the executor's first line has run
        worker.wait(30)
        _, alive = psutil.wait_procs([executor], timeout=30)
        assert not alive, f"the executor outlived its worker (job started: {mark.exists()})"
    finally:
        worker.kill()
        worker.wait(30)
        if executor is not None and executor.is_running():
            executor.kill()  # what outlived its worker must not outlive the test


def where():
    """The job's process and interpreter."""
    import os
    import sys

    return [os.getpid(), sys.executable]


def executor_of(worker: psutil.Process) -> psutil.Process:
    """The executor child of a worker process, once it runs the executor's code."""
    def find():
        try:
            for child in worker.children():
                if "skyrun_runtime.executor" in child.cmdline():
                    return child
        except psutil.Error:
            pass
        return None
    return wait_until(find, timeout=30, interval=0.002, message="the worker's executor")


def start_worker(namespace, fn) -> tuple[psutil.Process, psutil.Process]:
    """Start one worker for ``fn`` as the SDK does; the worker and its executor."""
    backend = namespace.backend
    backend.launcher.launch(backend.store.get_function(fn.id), 1)
    # Waited for: the launch returns once the worker's exec has begun, and a process in
    # the middle of its exec shows an empty command line for a moment (seen under load).
    (worker,) = wait_until(lambda: worker_processes(fn.id), timeout=30,
                           message="the launched worker").values()
    return worker, executor_of(worker)


def holds_a_slot(namespace, worker: psutil.Process) -> bool:
    """Whether the worker has reached its loop: it takes its slots before its first claim."""
    db = namespace.backend.launcher.db
    return db.connection().execute("SELECT 1 FROM slots WHERE holder = ?",
                                   (worker_id_for(worker.pid),)).fetchone() is not None


@pytest.mark.parametrize("when", ["starting", "idle"])
def test_a_worker_killed_before_any_job_takes_the_executor_it_started(namespace, monkeypatch,
                                                                      when):
    monkeypatch.setenv("SKYRUN_WORKER_IDLE_SECONDS", "120")
    fn = Function(where, maximum_concurrency=1)
    fn.save()
    worker, executor = start_worker(namespace, fn)
    try:
        if when == "idle":
            wait_until(lambda: holds_a_slot(namespace, worker), message="the worker's loop")
        # else at once: the worker still imports the SDK (its executor was started before)
        worker.kill()
        _, alive = psutil.wait_procs([executor], timeout=30)
        assert not alive, f"the executor outlived its worker, killed {when}"
    finally:
        for proc in (worker, executor):
            try:
                proc.kill()
            except psutil.Error:
                pass


def test_a_worker_that_leaves_without_a_job_stops_its_executor(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_WORKER_IDLE_SECONDS", "0.5")
    fn = Function(where, maximum_concurrency=1)
    fn.save()
    worker, executor = start_worker(namespace, fn)
    worker.wait(30)
    _, alive = psutil.wait_procs([executor], timeout=30)
    assert not alive


def test_the_first_job_runs_in_the_executor_started_with_the_worker(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_WORKER_IDLE_SECONDS", "10")
    fn = Function(where, maximum_concurrency=1)
    fn.save()
    worker, executor = start_worker(namespace, fn)
    job = fn()  # the live worker covers it: no other worker starts
    job.wait_for_completion(timeout=60)
    assert job.status == JobStatus.SUCCESS
    pid, python = job.result()
    assert pid == executor.pid
    record = namespace.backend.store.get_function(fn.id)
    assert python == namespace.backend.builder.executable(record)
    assert list(worker_processes(fn.id).values()) == [worker]


def test_an_executor_started_for_another_interpreter_is_replaced(namespace, monkeypatch):
    # The launcher names an interpreter that is not the Function's (as if its environment
    # changed between the launch and the first job): the first job still runs in the
    # Function's environment, in an executor started for it.
    monkeypatch.setenv("SKYRUN_WORKER_IDLE_SECONDS", "10")
    fn = Function(where, maximum_concurrency=1)
    fn.save()
    backend = namespace.backend
    right = backend.builder.executable(backend.store.get_function(fn.id))
    monkeypatch.setattr(backend.launcher, "executor_python", lambda function: sys.executable)
    assert right != sys.executable
    worker, executor = start_worker(namespace, fn)
    job = fn()
    job.wait_for_completion(timeout=60)
    assert job.status == JobStatus.SUCCESS
    pid, python = job.result()
    assert python == right and pid != executor.pid
    _, alive = psutil.wait_procs([executor], timeout=30)
    assert not alive, "the executor started for the wrong interpreter is still running"
