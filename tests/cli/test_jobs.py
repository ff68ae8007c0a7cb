"""``skyrun jobs ...``: list, show, cancel, rerun and delete."""

from __future__ import annotations

import pytest

from skyrun.compute import Function, FunctionStatus, Job, JobStatus
from skyrun.exceptions import NotFoundError
from tests.conftest import wait_until


def picky(x):
    print(f"got {x}")
    if x == 2:
        raise ValueError("boom")
    return x


def nap(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.05)


def test_list_and_show(cli):
    fn = Function(picky)
    fn.save()
    jobs = fn.map([1, 2, 3])
    tagged = fn(4, tags=["red", "big"])
    fn.wait_for_completion(interval=0.1, timeout=120)
    ok, bad = Job.get(jobs[0].id), Job.get(jobs[1].id)

    res = cli("jobs", "list", fn.id)
    assert res.code == 0, res.err
    header, *rows = res.out.splitlines()
    assert header.split() == ["ID", "STATUS", "ATTEMPTS", "EXIT", "RUNTIME", "CREATED", "ARGS",
                              "TAGS", "ERROR"]
    # Newest first; the jobs of one map() share their creation date: last submitted first.
    assert [r.split()[0] for r in rows] == [tagged.id, *(j.id for j in reversed(jobs))]
    bad_row = next(r for r in rows if r.startswith(bad.id))
    assert bad_row.split()[1:4] == ["failure", "1", "1"]
    assert "ValueError: boom" in bad_row
    assert "red,big" in rows[0]

    res = cli("jobs", "list", fn.id, "--status", "failure")
    assert [r.split()[0] for r in res.out.splitlines()[1:]] == [bad.id]
    res = cli("jobs", "list", fn.id, "--status", "failure", "--status", "success", "--json")
    assert {j["id"] for j in res.json()} == {tagged.id, *(j.id for j in jobs)}
    res = cli("jobs", "list", fn.id, "--tag", "red", "--tag", "big", "--json")
    assert [j["id"] for j in res.json()] == [tagged.id]
    res = cli("jobs", "list", fn.id, "--tag", "red", "--tag", "blue")
    assert (res.code, res.out.strip()) == (0, "No matching jobs.")
    res = cli("jobs", "list", fn.id, "--limit", "2")
    assert len(res.out.splitlines()) == 3
    assert "the 2 newest of 4 matching jobs" in res.err
    res = cli("jobs", "list", "no-such-function")
    assert res.code == 1 and "not found" in res.err
    res = cli("jobs", "list", fn.id, "--limit", "-1")
    assert res.code == 2
    res = cli("jobs", "list", fn.id, "--status", "lost")
    assert res.code == 2 and "invalid choice" in res.err

    res = cli("jobs", "show", bad.id)
    assert res.code == 0, res.err
    shown = dict(line.split(None, 1) for line in res.out.splitlines())
    assert shown["status"] == "failure" and shown["error_reason"] == "ValueError: boom"
    assert shown["args"] == "[2]" and shown["exit_code"] == "1"
    assert shown["statistics"].startswith("cpu ")
    res = cli("jobs", "show", ok.id, "--json")
    assert res.json() == ok.to_dict()
    assert len(res.json()) == 17
    res = cli("jobs", "show", "no-such-job")
    assert res.code == 1 and "Job no-such-job not found" in res.err


def test_cancel_rerun_delete(cli):
    # A stopped Function keeps its jobs pending, so every step below is deterministic.
    fn = Function(picky, auto_start=False)
    fn.save()
    wait_until(lambda: Function.get(fn.id).status == FunctionStatus.STOPPED, 60)
    a, b, c = fn.map([1, 2, 3])

    res = cli("jobs", "cancel", a.id)
    assert res.code == 0, res.err
    assert "Canceled 1 job." in res.out and a.id in res.out
    assert Job.get(a.id).status == JobStatus.CANCELED
    res = cli("jobs", "cancel", a.id)
    assert res.code == 0 and "Canceled 0 jobs." in res.out
    assert f"Job {a.id} is canceled: not canceled." in res.err
    res = cli("jobs", "cancel", "--function", fn.id, "--status", "pending", "--json")
    assert res.code == 0, res.err
    assert sorted(j["id"] for j in res.json()) == sorted([b.id, c.id])
    assert {j["status"] for j in res.json()} == {"canceled"}

    res = cli("jobs", "rerun", a.id, b.id)
    assert res.code == 0, res.err
    assert "Requeued 2 jobs." in res.out
    assert [Job.get(j.id).status for j in (a, b, c)] == ["pending", "pending", "canceled"]
    res = cli("jobs", "rerun", "--function", fn.id, "--json")
    assert [j["id"] for j in res.json()] == [c.id]
    assert res.json()[0]["execution_count"] == 0

    # A disabled Function refuses reruns: the command fails and nothing changes.
    cli("jobs", "cancel", c.id)
    fn.disable()
    res = cli("jobs", "rerun", c.id)
    assert res.code == 1 and "disabled" in res.err
    assert Job.get(c.id).status == JobStatus.CANCELED
    fn.enable()

    res = cli("jobs", "delete", a.id, "--json")
    assert res.code == 0, res.err
    assert res.json() == {"deleted": [a.id], "delete_results": False}
    with pytest.raises(NotFoundError):
        Job.get(a.id)
    res = cli("jobs", "delete", "--function", fn.id, "--status", "canceled")
    assert res.code == 0, res.err
    assert res.out.splitlines() == ["Deleted 1 job (results kept).", c.id]
    res = cli("jobs", "delete", "--function", fn.id, "--delete-results")
    assert res.out.splitlines() == ["Deleted 1 job.", b.id]
    assert fn.jobs.count() == 0

    # Unknown ids fail before anything happens; malformed calls are bad usage.
    d = fn(5)
    res = cli("jobs", "cancel", d.id, "no-such-job")
    assert res.code == 1 and "not found: no-such-job" in res.err
    assert Job.get(d.id).status == JobStatus.PENDING
    for bad_usage in (["jobs", "cancel"], ["jobs", "cancel", d.id, "--function", fn.id],
                      ["jobs", "rerun", d.id, "--status", "failure"], ["jobs", "purge", d.id]):
        res = cli(*bad_usage)
        assert res.code == 2, bad_usage
        assert "usage:" in res.err


def test_active_jobs_are_not_deleted(cli, tmp_path):
    fn = Function(nap)
    fn.save()
    flag = tmp_path / "wake"
    running = fn(str(flag))
    wait_until(lambda: Job.get(running.id).status == JobStatus.RUNNING, 60)
    fn.stop()  # what follows stays pending
    pending = fn(str(flag))

    res = cli("jobs", "delete", running.id, pending.id)
    assert res.code == 1 and f"{running.id} (running)" in res.err
    assert Job.get(pending.id).status == JobStatus.PENDING
    res = cli("jobs", "delete", "--function", fn.id, "--json")
    assert res.code == 0 and res.json()["deleted"] == [pending.id]

    res = cli("jobs", "cancel", running.id, "--json")
    assert res.code == 0, res.err
    assert res.json()[0]["status"] in ("cancel", "canceling", "canceled")
    running.wait_for_completion(interval=0.1, timeout=60)
    assert running.status == JobStatus.CANCELED
