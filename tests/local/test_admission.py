"""The embedded backend admits workers by the CPUs and memory their Functions ask for,
across every Function of the home, like a one-node cluster scheduler."""

from __future__ import annotations

import threading
import time

import pytest

from skyrun.backends.local.admission import CapacityWarning
from skyrun.compute import Function, Job, JobStatus
from skyrun.exceptions import ValidationError
from tests.conftest import wait_until
from tests.support import worker_processes


def span(seconds):
    """Sleep; return when the job ran (epoch seconds)."""
    import time

    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]


def most_at_once(intervals) -> int:
    """The largest number of the ``[start, end]`` intervals that overlap."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    depth = peak = 0
    for _, step in events:
        depth += step
        peak = max(peak, depth)
    return peak


class Sampler:
    """Samples, every 20 ms, the running jobs of Functions and their admitted workers: the
    live worker processes that hold a reservation in the launcher's ledger (a worker that
    has left its loop hands its share on before its process ends, and a process in its
    last milliseconds may be seen beside its successor)."""

    def __init__(self, functions):
        self.functions = functions
        self.running: list[int] = []
        self.workers: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        store = self.functions[0]._client.backend.store
        ids = [f.id for f in self.functions]
        while not self.stop.is_set():
            counts = store.count_by_status(ids)
            self.running.append(sum(counts.get(i, {}).get("running", 0) for i in ids))
            self.workers.append(len(admitted_workers(store, ids)))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.fixture(autouse=True)
def empty_machine(namespace):
    """Idle workers left by earlier tests hold shares (and were started with other
    overrides in their environment): each test starts on an empty machine."""
    launcher = namespace.backend.launcher
    for (function_id,) in launcher.db.connection().execute(
            "SELECT DISTINCT function_id FROM workers").fetchall():
        launcher.kill_workers(function_id)


def results(fn):
    return [job.result() for job in fn.jobs]


def admitted_workers(store, function_ids) -> set[int]:
    """The pids of the live worker processes of these Functions that hold a reservation."""
    live = {proc.pid for i in function_ids for proc in worker_processes(i).values()}
    marks = ", ".join("?" * len(function_ids))
    rows = store.db.connection().execute(
        f"SELECT pid FROM workers WHERE function_id IN ({marks})", list(function_ids))
    return live & {pid for (pid,) in rows}


def test_forty_one_cpu_jobs_on_two_cpus_run_two_at_a_time(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "2")
    fn = Function(span, cpus=1, memory=2048, maximum_concurrency=40)
    fn.save()
    with Sampler([fn]) as sampler:
        fn.map([0.2] * 40)
        fn.wait_for_completion(interval=0.1, timeout=120)
    assert fn.jobs.filter(Job.status == JobStatus.SUCCESS).count() == 40
    assert max(sampler.running) == 2
    assert max(sampler.workers) <= 2
    assert most_at_once(results(fn)) == 2


def test_admission_spans_functions_and_idle_workers_hand_over(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "2")
    # Idle workers would hold their share for a minute: they leave early for a waiting
    # Function instead.
    monkeypatch.setenv("SKYRUN_WORKER_IDLE_SECONDS", "60")
    a = Function(span, cpus=1, memory=2048, maximum_concurrency=10)
    b = Function(span, cpus=0.5, memory=1024, maximum_concurrency=10)
    a.save()
    b.save()
    with Sampler([a, b]):
        a.map([0.3] * 6)
        b.map([0.3] * 8)
        a.wait_for_completion(interval=0.1, timeout=120)
        finished_a = time.monotonic()
        b.wait_for_completion(interval=0.1, timeout=120)
        assert time.monotonic() - finished_a < 30
    runs_a, runs_b = results(a), results(b)
    # Reserved CPUs never passed 2: at every instant, 1 per job of a, 0.5 per job of b.
    events = sorted([(s, 1.0) for s, _ in runs_a] + [(e, -1.0) for _, e in runs_a]
                    + [(s, 0.5) for s, _ in runs_b] + [(e, -0.5) for _, e in runs_b])
    depth = peak = 0.0
    for _, step in events:
        depth += step
        peak = max(peak, depth)
    assert peak <= 2.0
    assert most_at_once(runs_b) >= 2  # b used the room a left


def test_memory_bounds_admission(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_LOCAL_MEMORY", "3000")
    fn = Function(span, cpus=0.5, memory=2048, maximum_concurrency=5)
    fn.save()
    fn.map([0.2] * 5)
    fn.wait_for_completion(interval=0.1, timeout=120)
    assert most_at_once(results(fn)) == 1


def test_a_function_bigger_than_the_machine_runs_alone_with_a_warning(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "2")
    big = Function(span, cpus=4, memory=8192, maximum_concurrency=3)
    small = Function(span, cpus=1, memory=2048, maximum_concurrency=3)
    big.save()
    small.save()
    with pytest.warns(CapacityWarning, match=r"cpus=4 .*SKYRUN_LOCAL_CPUS.*one at a time"):
        big.map([0.3] * 3)
        small.map([0.3] * 4)
        big.wait_for_completion(interval=0.1, timeout=120)
        small.wait_for_completion(interval=0.1, timeout=120)
    runs_big, runs_small = results(big), results(small)
    assert most_at_once(runs_big) == 1
    for s, e in runs_big:
        assert all(e2 <= s or s2 >= e for s2, e2 in runs_small), "a job ran beside the big one"


def test_a_killed_worker_frees_its_share(namespace, monkeypatch):
    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "1")
    fn = Function(span, cpus=1, memory=2048, maximum_concurrency=4, retry_count=0)
    fn.save()
    fn.map([2, 0.1, 0.1])
    wait_until(lambda: worker_processes(fn.id), timeout=30, message="a worker")
    store = fn._client.backend.store
    wait_until(lambda: store.count_by_status([fn.id])[fn.id].get("running"), timeout=30)
    (proc,) = worker_processes(fn.id).values()
    for child in proc.children(recursive=True):
        child.kill()
    proc.kill()
    fn.wait_for_completion(interval=0.2, timeout=120)
    assert fn.jobs.filter(Job.status == JobStatus.SUCCESS).count() == 3


def test_a_mistyped_override_is_refused_naming_it(namespace, monkeypatch):
    from skyrun.backends.local.backend import LocalBackend

    monkeypatch.setenv("SKYRUN_LOCAL_CPUS", "two")
    with pytest.raises(ValidationError, match=r"SKYRUN_LOCAL_CPUS: 'two' is not a valid "
                                              r"amount; allowed: a positive number of CPUs"):
        LocalBackend(namespace.backend.home)
