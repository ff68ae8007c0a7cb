"""The executor round trip: each job's environment in a reused executor, and the job's
output read up to its end, or up to a kill (API.md 7; the worker loop of DESIGN.md)."""

from __future__ import annotations

from skyrun.compute import Function, JobStatus


def probe(leak=False):
    """What the job sees of its environment; ``leak`` leaves a variable behind."""
    import os

    seen = {"foo": os.environ.get("FOO"), "leaked": os.environ.get("LEFT_BY_A_JOB"),
            "job": os.environ.get("SKYRUN_JOB_ID")}
    if leak:
        os.environ["LEFT_BY_A_JOB"] = "1"
    return seen


def test_each_job_sees_its_own_environment_in_a_reused_executor(namespace):
    # One at a time, so one executor runs them all: after a job that changed nothing
    # (only what differs is set), after one that set a variable (all is rebuilt).
    fn = Function(probe, maximum_concurrency=1)
    fn.save()
    jobs = fn.map([[False], [True], [False], [False]],
                  environments=[{"FOO": "a"}, None, {"FOO": "c"}, None])
    fn.wait_for_completion(interval=0.05, timeout=120)
    for job in jobs:
        job.refresh()
        assert job.status == JobStatus.SUCCESS, job.error_reason
    seen = [job.result() for job in jobs]
    assert [s["foo"] for s in seen] == ["a", None, "c", None]
    assert [s["leaked"] for s in seen] == [None] * 4
    assert [s["job"] for s in seen] == [job.id for job in jobs]


def talk_then_hang(seconds):
    import sys
    import time

    print("first line")
    sys.stdout.write("no newline at the end")
    sys.stdout.flush()
    time.sleep(seconds)


def test_output_is_read_to_the_end_and_up_to_a_kill(namespace):
    # One at a time: the job killed runs in the executor the first one warmed, so its
    # timeout starts with its lines a moment away, not an interpreter's start (seconds
    # on a loaded machine).
    fn = Function(talk_then_hang, timeout=2, retry_count=0, maximum_concurrency=1)
    fn.save()
    ended, killed = fn.map([[0], [30]])
    fn.wait_for_completion(interval=0.05, timeout=120)
    ended.refresh()
    killed.refresh()
    assert ended.status == JobStatus.SUCCESS
    assert ended.log(timestamps=False) == "first line\nno newline at the end"
    assert killed.status == JobStatus.TIMEOUT
    lines = killed.log(timestamps=False).split("\n")
    assert lines[:2] == ["first line", "no newline at the end"]
    assert "ran past its timeout of 2 seconds" in lines[-1]
