"""``skyrun functions ...``: list, show, start, stop, enable, disable, set and delete."""

from __future__ import annotations

import pytest

from skyrun.compute import Function, FunctionStatus, Job, JobStatus
from skyrun.exceptions import NotFoundError
from tests.conftest import wait_until


def double(x):
    return x * 2


def nap(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.05)
    return "woke"


def test_list_and_show(cli):
    fn = Function(double, name="doubler")
    fn.save()
    fn.map(range(3))
    fn.wait_for_completion(interval=0.1, timeout=120)
    idle = Function(double, name="idler", auto_start=False)
    idle.save()
    wait_until(lambda: Function.get(idle.id).status == FunctionStatus.STOPPED, 60)

    res = cli("functions", "list")
    assert res.code == 0, res.err
    header, *rows = res.out.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "ENABLED", "CPUS", "MEMORY", "CONC",
                              "TARGET", "CREATED", "PENDING", "ACTIVE", "SUCCESS", "FAILURE", "TIMEOUT",
                              "CANCELED"]
    assert len(rows) == 2
    assert rows[0].split()[:3] == [idle.id, "idler", "stopped"]  # newest first
    cells = rows[1].split()
    assert cells[:9] == [fn.id, "doubler", "ready", "yes", "1", "2048", "10", "auto",
                         cells[8]]
    assert cells[-6:] == ["0", "0", "3", "0", "0", "0"]
    # Columns line up: every row has the header's column starts.
    assert rows[1].index(fn.id) == header.index("ID")
    assert rows[1].index("doubler") == header.index("NAME")

    res = cli("functions", "list", "--json")
    assert res.code == 0, res.err
    listed = {f["id"]: f for f in res.json()}
    assert set(listed) == {fn.id, idle.id}
    assert listed[fn.id]["job_statistics"] == {
        "pending": 0, "running": 0, "cancel": 0, "canceling": 0, "success": 3, "failure": 0,
        "timeout": 0, "canceled": 0}
    assert listed[fn.id]["maximum_concurrency"] == 10

    # --json before the sub-command, and --status filtering.
    res = cli("--json", "functions", "list", "--status", "stopped")
    assert [f["id"] for f in res.json()] == [idle.id]
    res = cli("functions", "list", "--status", "building")
    assert (res.code, res.out.strip()) == (0, "No Functions.")

    res = cli("functions", "show", fn.id)
    assert res.code == 0, res.err
    shown = dict(line.split(None, 1) for line in res.out.splitlines())
    assert shown["id"] == fn.id and shown["status"] == "ready"
    assert shown["memory"] == "2048 MB" and shown["maximum_concurrency"] == "10"
    assert shown["jobs"] == "success=3"
    usage = fn.usage()
    assert shown["usage"] == (f"3 finished jobs, runtime {usage.runtime_seconds:.1f} s, CPU "
                              f"{usage.cpu_seconds:.1f} s, peak memory "
                              f"{usage.peak_memory_bytes / 1048576:.1f} MB")
    assert "cost" not in shown  # the embedded backend is not priced
    # The API's default timeout (3,600 s) is past Lambda's limit: Batch on AWS.
    assert shown["compute_target"] == "auto (AWS: batch)"
    res = cli("functions", "show", fn.id, "--json")
    assert res.json()["id"] == fn.id
    assert res.json()["job_statistics"]["success"] == 3
    assert res.json()["usage"]["jobs"] == 3 and res.json()["usage"]["cost"] is None

    # Errors: an unknown id fails (1); an unknown status is bad usage (2).
    res = cli("functions", "show", "no-such-function")
    assert res.code == 1
    assert "Function no-such-function not found" in res.err and res.out == ""
    res = cli("functions", "list", "--status", "sleeping")
    assert res.code == 2 and "invalid choice" in res.err


def test_start_stop_enable_disable(cli):
    fn = Function(double, auto_start=False)
    fn.save()
    wait_until(lambda: Function.get(fn.id).status == FunctionStatus.STOPPED, 60)

    res = cli("functions", "start", fn.id)
    assert res.code == 0, res.err
    assert "is ready" in res.out
    assert Function.get(fn.id).status == FunctionStatus.READY
    res = cli("functions", "stop", fn.id, "--json")
    assert res.code == 0 and res.json()["status"] == "stopped"
    assert Function.get(fn.id).status == FunctionStatus.STOPPED

    res = cli("functions", "disable", fn.id)
    assert res.code == 0 and "disabled" in res.out
    assert Function.get(fn.id).enabled is False
    res = cli("functions", "enable", fn.id, "--json")
    assert res.code == 0 and res.json()["enabled"] is True
    assert Function.get(fn.id).enabled is True

    res = cli("functions", "start", "no-such-function")
    assert res.code == 1 and "not found" in res.err
    res = cli("functions", "start")
    assert res.code == 2 and "FUNCTION_ID" in res.err


def test_set_validates_like_save(cli):
    fn = Function(double)
    fn.save()

    res = cli("functions", "set", fn.id, "--maximum-concurrency", "3", "--cpus", "2",
              "--memory", "8GB", "--timeout", "60", "--retry-count", "2")
    assert res.code == 0, res.err
    assert "maximum_concurrency  3" in res.out
    stored = Function.get(fn.id)
    assert (stored.maximum_concurrency, stored.cpus, stored.memory, stored.timeout,
            stored.retry_count) == (3, 2.0, 8192, 60, 2)

    # Rejected by the SDK's rules: the operation fails (1) and nothing changes.
    res = cli("functions", "set", fn.id, "--cpus", "0.25", "--memory", "4096")
    assert res.code == 1
    assert "memory: 4096 MB is not allowed with cpus=0.25" in res.err
    assert "512, 1024, 2048" in res.err
    res = cli("functions", "set", fn.id, "--retry-count", "11", "--maximum-concurrency", "0")
    assert res.code == 1 and "retry_count" in res.err and "maximum_concurrency" in res.err
    res = cli("functions", "set", fn.id, "--memory", "100TB")
    assert res.code == 1 and "Unable to convert memory to megabytes" in res.err
    stored = Function.get(fn.id)
    assert (stored.maximum_concurrency, stored.cpus, stored.memory, stored.retry_count) == \
        (3, 2.0, 8192, 2)

    # Bad usage (2): nothing to set, or a value of the wrong type.
    res = cli("functions", "set", fn.id)
    assert res.code == 2 and "nothing to set" in res.err
    res = cli("functions", "set", fn.id, "--timeout", "soon")
    assert res.code == 2 and "invalid int value" in res.err

    res = cli("functions", "set", fn.id, "--cpus", "1", "--memory", "2GB", "--json")
    assert res.code == 0, res.err
    assert (res.json()["cpus"], res.json()["memory"]) == (1.0, 2048)

    # compute_target is set like the rest; 'lambda' with a timeout past 900 s is refused.
    res = cli("functions", "set", fn.id, "--compute-target", "lambda")
    assert res.code == 0, res.err
    shown = dict(line.split(None, 1) for line in res.out.splitlines())
    assert shown["compute_target"] == "lambda (AWS: lambda)"
    res = cli("functions", "set", fn.id, "--timeout", "1200")
    assert res.code == 1 and "timeout=1200 seconds is more than Lambda's limit" in res.err
    res = cli("functions", "set", fn.id, "--compute-target", "gpu")
    assert res.code == 1 and "'gpu' is not an allowed value" in res.err
    stored = Function.get(fn.id)
    assert (stored.compute_target, stored.timeout) == ("lambda", 60)


def test_delete(cli, tmp_path):
    kept = Function(double)
    kept.save()
    job = kept(21)
    job.wait_for_completion(interval=0.1, timeout=120)
    res = cli("functions", "delete", kept.id)
    assert res.code == 0, res.err
    assert "results were kept" in res.out
    with pytest.raises(NotFoundError):
        Function.get(kept.id)
    with pytest.raises(NotFoundError):
        Job.get(job.id)
    assert job.result() == 42  # the loaded job still knows where its result is

    gone = Function(double)
    gone.save()
    job = gone(1)
    job.wait_for_completion(interval=0.1, timeout=120)
    res = cli("functions", "delete", gone.id, "--delete-results", "--json")
    assert res.code == 0, res.err
    assert res.json() == {"deleted": gone.id, "delete_results": True}
    assert job.result() is None  # its result blob went too

    # With an active job, nothing is deleted and the command fails.
    busy = Function(nap)
    busy.save()
    flag = tmp_path / "wake"
    job = busy(str(flag))
    wait_until(lambda: Job.get(job.id).status == JobStatus.RUNNING, 60)
    res = cli("functions", "delete", busy.id)
    assert res.code == 1 and "active jobs" in res.err
    assert Function.get(busy.id).id == busy.id
    flag.write_text("")
    job.wait_for_completion(interval=0.1, timeout=60)
    assert job.result() == "woke"
    res = cli("functions", "delete", busy.id)
    assert res.code == 0, res.err
    with pytest.raises(NotFoundError):
        Function.get(busy.id)
