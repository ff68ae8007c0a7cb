"""An executor never outlives its worker: a worker killed in the middle of a job, or just
after it handed a job to an executor that was still starting, takes the executor with it.
Else the job would run twice: once unsupervised, once on the worker that takes it over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import psutil
import pytest

from tests.conftest import wait_until

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
