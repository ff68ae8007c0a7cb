"""``skyrun logs``, ``skyrun build-log`` and ``skyrun results``."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from skyrun.compute import ComputeResult, Function, Job, JobStatus
from tests.cli.conftest import cli_env
from tests.conftest import wait_until

PNG = b"\x89PNG\r\n\x1a\n"


def chatty(x):
    print(f"hello {x}")
    print("bye")
    if x == "png":
        return ComputeResult(PNG)
    if x == "none":
        return None
    return {"x": x}


def waiter(path):
    import os
    import time

    print("start", flush=True)
    while not os.path.exists(path):
        time.sleep(0.05)
    print("end", flush=True)


def test_logs_build_log_and_results(cli):
    fn = Function(chatty)
    fn.save()
    jobs = fn.map([1, "png", "none"])
    fn.wait_for_completion(interval=0.1, timeout=120)
    job = jobs[0]

    res = cli("logs", job.id)
    assert res.code == 0, res.err
    assert res.out.splitlines() == job.log().splitlines()
    assert res.out.splitlines()[0].endswith(" hello 1")
    res = cli("logs", job.id, "--no-timestamps")
    assert res.out == "hello 1\nbye\n"
    res = cli("logs", job.id, "--no-timestamps", "--json")
    assert [json.loads(line) for line in res.out.splitlines()] == ["hello 1", "bye"]
    res = cli("logs", "no-such-job")
    assert res.code == 1 and "not found" in res.err

    res = cli("build-log", fn.id)
    assert res.code == 0, res.err
    assert res.out.strip() == fn.build_log().strip() != ""
    res = cli("build-log", fn.id, "--json")
    assert res.json() == {"function_id": fn.id, "status": "ready", "build_log": fn.build_log()}
    res = cli("build-log", "no-such-function")
    assert res.code == 1

    # One JSON document per line; bytes as {"$base64": ...}; a null result is null.
    res = cli("results", fn.id)
    assert res.code == 0, res.err
    lines = [json.loads(line) for line in res.out.splitlines()]
    png = {"$base64": base64.b64encode(PNG).decode()}
    assert sorted(map(json.dumps, lines)) == sorted(map(json.dumps, [{"x": 1}, png, None]))
    res = cli("results", fn.id, "--ids")
    pairs = {d["job_id"]: d["result"] for d in map(json.loads, res.out.splitlines())}
    assert pairs == {jobs[0].id: {"x": 1}, jobs[1].id: png, jobs[2].id: None}
    res = cli("results", "no-such-function")
    assert res.code == 1 and "not found" in res.err


def test_logs_follow(cli, namespace, skyrun_home, tmp_path):
    fn = Function(waiter)
    fn.save()
    flag = tmp_path / "go"
    job = fn(str(flag))
    follower = subprocess.Popen(
        [sys.executable, "-m", "skyrun.cli", "--home", str(skyrun_home), "logs", job.id,
         "--follow", "--no-timestamps"],
        env=cli_env(namespace), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "start" in job.log(), 60, message="the job to start")
        assert follower.poll() is None  # still following the running job
        flag.write_text("")
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    assert out == "start\nend\n"
    assert Job.get(job.id).status == JobStatus.SUCCESS
