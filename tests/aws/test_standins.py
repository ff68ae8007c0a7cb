"""The sandbox's stand-ins outlive a failure to make their clients, start again a job or
an invocation whose start failed, and the environment they give their processes is read
whole while the process that started the sandbox changes its own (as a test run does,
test after test)."""

from __future__ import annotations

import os
import sys
import threading

from skyrun.sandbox.batch import BatchStandIn
from skyrun.sandbox.lambda_workers import LambdaStandIn
from skyrun.sandbox.loops import START_TRIES
from skyrun.sandbox.processes import child_environment
from skyrun.sandbox.server import BATCH_STOP, BATCH_SUBMIT
from tests.conftest import wait_until


class FlakyClients:
    """Makes clients as the sandbox does, but the first one fails as botocore did when
    a variable was removed while it read the environment."""

    def __init__(self):
        self.calls = 0

    def __call__(self, service: str) -> object:
        self.calls += 1
        if self.calls == 1:
            raise KeyError("AWS_ENDPOINT_URL")
        return object()


class NoEvents:
    """The server's event feed, with nothing in it: counts the polls."""

    def __init__(self):
        self.polls = 0

    def __call__(self, after, kinds, wait):
        self.polls += 1
        return [], after


def test_a_lambda_stand_in_whose_first_client_failed_keeps_polling(tmp_path):
    clients, events = FlakyClients(), NoEvents()
    stand_in = LambdaStandIn(clients, events, {}, tmp_path, "repo", interval=0.01)
    stand_in.start()
    try:
        wait_until(lambda: events.polls >= 3, timeout=10, message="polls after the failure")
    finally:
        stand_in.stop()
    assert clients.calls == 3  # the failed one, then lambda and ecr once


def test_a_batch_stand_in_whose_first_client_failed_keeps_polling(tmp_path):
    clients, events = FlakyClients(), NoEvents()
    stand_in = BatchStandIn(clients, ["queue"], {}, tmp_path, "repo", events, interval=0.01)
    stand_in.start()
    try:
        wait_until(lambda: events.polls >= 3, timeout=10, message="polls after the failure")
    finally:
        stand_in.stop()


def test_child_environment_while_another_thread_changes_the_environment():
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            os.environ["SKYRUN_TEST_CHURN"] = "1"
            os.environ.pop("SKYRUN_TEST_CHURN", None)
            for k in range(20):
                os.environ[f"CHURN_{k}"] = "x"
            for k in range(20):
                os.environ.pop(f"CHURN_{k}", None)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over often, as a loaded machine does
    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        for _ in range(3000):
            env = child_environment({"X": "1"})
            assert env["X"] == "1" and "SKYRUN_TEST_CHURN" not in env
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)


class OneBatch:
    """The event feed with ``events`` in its first answer only."""

    def __init__(self, events):
        self.events = events

    def __call__(self, after, kinds, wait):
        out, self.events = self.events, []
        return out, after + len(out)


class FailingStarts:
    """A stand-in's ``_start`` that fails its first ``failures`` calls."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls: list = []
        self.started: list = []

    def __call__(self, client, ecr, item):
        self.calls.append(item)
        if len(self.calls) <= self.failures:
            raise RuntimeError("moto is busy")
        self.started.append(item)


class FakeBatch:
    def describe_jobs(self, jobs):
        return {"jobs": [{"jobId": j, "jobQueue": "other" if j.startswith("x") else "queue"}
                         for j in jobs if j != "unknown"]}


def test_a_batch_job_whose_start_failed_is_started_at_the_next_poll(tmp_path, monkeypatch):
    events = OneBatch([{"kind": BATCH_SUBMIT, "job_id": j} for j in ("j1", "x2", "unknown")])
    stand_in = BatchStandIn(lambda service: None, ["queue"], {}, tmp_path, "repo", events,
                            interval=0.01)
    starts = FailingStarts(1)
    monkeypatch.setattr(stand_in, "_start", starts)
    stand_in.poll(FakeBatch(), None)
    assert starts.started == [] and [j for j, _ in stand_in.starts.waiting()] == ["j1"]
    stand_in.poll(FakeBatch(), None)  # no new event: the job is tried again
    assert [job["jobId"] for job in starts.started] == ["j1"]
    assert stand_in.starts.waiting() == []
    stand_in.poll(FakeBatch(), None)
    assert len(starts.calls) == 2  # started once, never again
    # A job stopped while its start waits to be tried again is not started.
    stand_in.events = OneBatch([{"kind": BATCH_SUBMIT, "job_id": "j3"}])
    monkeypatch.setattr(stand_in, "_start", starts := FailingStarts(1))
    stand_in.poll(FakeBatch(), None)
    stand_in.events = OneBatch([{"kind": BATCH_STOP, "job_id": "j3"}])
    stand_in.poll(FakeBatch(), None)
    assert len(starts.calls) == 1 and stand_in.starts.waiting() == []


def test_a_lambda_invocation_is_tried_a_bounded_number_of_times(tmp_path, monkeypatch):
    invocations = [{"index": i, "function": "f", "payload": "{}"} for i in range(2)]
    stand_in = LambdaStandIn(lambda service: None, OneBatch(invocations), {}, tmp_path,
                             "repo", interval=0.01)
    starts = FailingStarts(2)  # invocation 0 fails, then 1 fails, then both start
    monkeypatch.setattr(stand_in, "_start", starts)
    stand_in.poll(None, None)
    stand_in.poll(None, None)
    assert [i["index"] for i in starts.started] == [0, 1]
    assert stand_in.starts.waiting() == []
    # One that never starts is given up after START_TRIES tries, not retried forever.
    stand_in.events = OneBatch([{"index": 9, "function": "f", "payload": "{}"}])
    starts = FailingStarts(10**6)
    monkeypatch.setattr(stand_in, "_start", starts)
    for _ in range(START_TRIES + 2):
        stand_in.poll(None, None)
    assert len(starts.calls) == START_TRIES and stand_in.starts.waiting() == []
