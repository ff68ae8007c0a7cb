"""CPU per no-op job, by process: the workers and their executors, embedded backend.

``throughput.py`` gives jobs/s against a process pool; on two shared cores that rate is
set by CPU, and its ratio moves with the machine's load. This script measures what the
load does not change much: the CPU time a no-op job costs each process.

``-n`` no-op jobs are submitted to a Function that is not started, then two workers are
launched as the SDK launches them (each with its executor). The script samples every
worker's and executor's CPU time (psutil) every 0.1 s, and prints the CPU per job between
the sample at which ``--skip`` jobs had finished (the processes' starts are left out)
and the last sample before the workers left (they idle, unpaid, before that).

``--profile FILE`` runs one of the two workers in this process under cProfile instead
and writes its profile (thread CPU time) there (``python -m pstats FILE``); the figures
printed then count this whole process as a worker.

    python bench/job_cpu.py [-n 4000] [--skip 500] [--rounds 1] [--profile FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_home, machine, noop  # noqa: E402


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


class Sampler:
    """The CPU seconds of the workers and of their executors, sampled from a thread."""

    def __init__(self, db_path: str, function_id: str, worker_pids: list[int]):
        import sqlite3

        self.conn = sqlite3.connect(db_path, check_same_thread=False)
        self.function_id = function_id
        self.workers = [psutil.Process(p) for p in worker_pids]
        self.executors: dict[int, psutil.Process] = {}
        self.last: dict[str, float] = {}
        self.samples: list[tuple[int, float, float]] = []  # (done, workers, executors)
        self.stopped = threading.Event()

    def sample(self) -> tuple[float, float] | None:
        worker_cpu = executor_cpu = 0.0
        for proc in self.workers:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return None  # it left (the launcher reaps it later)
                worker_cpu += _cpu(proc)
                for child in proc.children():
                    self.executors.setdefault(child.pid, child)
            except psutil.Error:
                return None  # a worker left: the last sample stands
        for pid, proc in self.executors.items():
            try:
                self.last[f"e{pid}"] = _cpu(proc)
            except psutil.Error:
                pass
            executor_cpu += self.last.get(f"e{pid}", 0.0)
        return worker_cpu, executor_cpu

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            cpu = self.sample()
            if cpu is None:
                return
            done = self.conn.execute(
                "SELECT count(*) FROM jobs WHERE function_id = ? AND status = 'success'",
                (self.function_id,)).fetchone()[0]
            self.samples.append((done, *cpu))


def one_round(n: int, skip: int, profile: str | None) -> dict[str, float]:
    """CPU seconds per job of the workers and executors over one run of ``n`` jobs."""
    from skyrun.compute import Function, JobStatus

    with fresh_home(idle_seconds=1.5) as home:
        fn = Function(noop, maximum_concurrency=2, auto_start=False)
        fn.save()
        backend = fn._client.backend
        store = backend.store
        deadline = time.time() + 60
        while store.get_function(fn.id)["status"] != "stopped":
            if time.time() > deadline:
                raise RuntimeError("the Function did not build")
            time.sleep(0.05)
        fn.map(range(n))
        record = store.update_function(fn.id, {"status": "ready"})
        backend.launcher.launch(record, 1 if profile else 2)
        pids = backend.launcher.worker_pids(fn.id)
        sampler = Sampler(str(Path(home) / "skyrun.db"), fn.id,
                          [*pids, os.getpid()] if profile else pids)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        if profile:
            import cProfile

            from skyrun_runtime.worker import Worker

            os.environ["SKYRUN_WORKER_IDLE_SECONDS"] = "1.5"
            profiler = cProfile.Profile(time.thread_time)  # this thread's CPU
            profiler.enable()
            Worker(backend, fn.id).run()
            profiler.disable()
            profiler.dump_stats(profile)
            sampler.stopped.set()
        thread.join()
        done = store.count_by_status([fn.id], [JobStatus.SUCCESS.value])[fn.id]
        assert done.get("success") == n, done
    first = next(s for s in sampler.samples if s[0] >= skip)
    last = sampler.samples[-1]
    jobs = last[0] - first[0]
    return {"jobs": jobs, "worker": (last[1] - first[1]) / jobs,
            "executor": (last[2] - first[2]) / jobs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000)
    parser.add_argument("--skip", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", help="profile one worker in this process into FILE")
    args = parser.parse_args()
    print(f"machine: {machine()}, load {os.getloadavg()[0]:.1f}")
    rounds = []
    for _ in range(args.rounds):
        r = one_round(args.n, args.skip, args.profile)
        rounds.append(r)
        print(f"  {r['jobs']} jobs measured: worker {r['worker'] * 1e6:.0f} us/job, executor "
              f"{r['executor'] * 1e6:.0f} us/job, total "
              f"{(r['worker'] + r['executor']) * 1e6:.0f} us/job "
              f"(load {os.getloadavg()[0]:.1f})")
    if len(rounds) > 1:
        med = {k: statistics.median(r[k] for r in rounds) for k in ("worker", "executor")}
        print(f"median: worker {med['worker'] * 1e6:.0f} us/job, executor "
              f"{med['executor'] * 1e6:.0f} us/job")
    return 0


if __name__ == "__main__":
    sys.exit(main())
