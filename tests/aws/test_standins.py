"""The sandbox's stand-ins outlive a failure to make their clients, and the environment
they give their processes is read whole while the process that started the sandbox
changes its own (as a test run does, test after test)."""

from __future__ import annotations

import os
import sys
import threading

from skyrun.sandbox.batch import BatchStandIn
from skyrun.sandbox.lambda_workers import LambdaStandIn
from skyrun.sandbox.processes import child_environment
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
