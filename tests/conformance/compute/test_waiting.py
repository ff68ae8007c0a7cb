"""What a waiting loop reads: once the Function is ready, a poll counts only the statuses
it waits on and does not read the Function again (on AWS each read is a request, and a
wait polls for as long as the jobs run); the end of a wait still leaves the Function
refreshed with all its statistics."""

from __future__ import annotations

import threading

import pytest

from skyrun.compute import Function, FunctionStatus, JobStatus
from skyrun.compute.statuses import ACTIVE
from tests.conftest import wait_until

WAITING = {JobStatus.PENDING.value, *ACTIVE}


def hold(gate):
    """Wait (up to two minutes) while the file ``gate`` exists; return its name."""
    import os
    import time

    deadline = time.monotonic() + 120
    while os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.path.basename(gate)


class StoreReads:
    """Counts the store reads a waiting loop makes (the backend's own store object)."""

    def __init__(self, store, monkeypatch):
        self.functions = 0
        self.counts: list[set[str] | None] = []
        get_function, count_by_status = store.get_function, store.count_by_status

        def counted_get_function(fid):
            self.functions += 1
            return get_function(fid)

        def counted_count_by_status(fids, statuses=None):
            self.counts.append(None if statuses is None else set(statuses))
            if statuses is None:
                return count_by_status(fids)
            return count_by_status(fids, statuses)

        monkeypatch.setattr(store, "get_function", counted_get_function)
        monkeypatch.setattr(store, "count_by_status", counted_count_by_status)

    @property
    def polls(self) -> int:
        return sum(1 for c in self.counts if c == WAITING)

    @property
    def full_counts(self) -> int:
        return sum(1 for c in self.counts if c is None)


def open_gate_when(condition, gate):
    """Remove the file ``gate`` once ``condition()`` holds, from a thread: a job held at
    the gate runs for as long as the test needs polls to happen, at any machine speed."""

    def run():
        wait_until(condition, timeout=120, interval=0.01, message="polls")
        gate.unlink()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def gates(tmp_path):
    """Files ``gates(n)`` for jobs to wait on, present until the test removes them."""

    def make(n):
        paths = [tmp_path / f"gate{i}" for i in range(n)]
        for path in paths:
            path.touch()
        return paths

    return make


@pytest.fixture
def ready_function():
    fn = Function(hold, maximum_concurrency=1)
    fn.save()
    fn.wait_for_completion(timeout=120, interval=0.1, progress=False)  # the build
    return fn


def test_a_function_wait_counts_only_waiting_statuses(ready_function, monkeypatch, gates):
    fn = ready_function
    (gate,) = gates(1)
    fn.map([str(gate)])
    reads = StoreReads(fn._backend.store, monkeypatch)
    opener = open_gate_when(lambda: reads.polls >= 3, gate)
    fn.wait_for_completion(timeout=120, interval=0.1, progress=False)
    opener.join()
    assert reads.polls >= 3, reads.counts
    # One read of the Function at the start and one at the end (plus one before a
    # launch of workers, if one was needed): not one per poll.
    assert reads.functions <= 3 < reads.polls
    assert reads.full_counts == 1  # the end: the statistics callers see
    assert all(c is None or c == WAITING for c in reads.counts)
    assert fn.status == FunctionStatus.READY
    assert fn.job_statistics == {s.value: int(s == JobStatus.SUCCESS) for s in JobStatus}


def test_a_bar_still_counts_every_status(ready_function, monkeypatch, capsys, gates):
    fn = ready_function
    (gate,) = gates(1)
    fn.map([str(gate)])
    reads = StoreReads(fn._backend.store, monkeypatch)
    opener = open_gate_when(lambda: reads.full_counts >= 2, gate)
    fn.wait_for_completion(timeout=120, interval=0.1, progress=True)
    opener.join()
    assert "Waiting for hold: 100%" in capsys.readouterr().err
    assert reads.full_counts >= 2 and reads.polls == 0


def test_as_completed_and_a_job_wait_read_the_function_once(ready_function, monkeypatch, gates):
    fn = ready_function
    first_gate, second_gate = gates(2)
    # One at a time: the second waits for the first, then for its own gate.
    first, second = fn.map([str(first_gate), str(second_gate)])
    reads = StoreReads(fn._backend.store, monkeypatch)
    open_gate_when(lambda: reads.polls >= 1, first_gate)
    assert list(fn.as_completed([first], timeout=120, interval=0.1, progress=False)) == [first]
    assert reads.polls >= 1 and reads.functions <= 2
    reads.functions, reads.counts = 0, []
    open_gate_when(lambda: reads.polls >= 1, second_gate)
    second.wait_for_completion(timeout=120, interval=0.1)
    assert second.status == JobStatus.SUCCESS
    assert reads.polls >= 1 and reads.functions <= 2
    assert reads.full_counts == 0
