"""100 jobs that each sleep 5 s, ``maximum_concurrency=100``, ``cpus=0.25``, embedded
backend: makespan against the ideal for the concurrency the machine admits, and the
peak of skyrun's processes and resident memory.

The ideal is ``ceil(jobs / admitted) * seconds``, with ``admitted`` the number of
0.25-CPU workers that fit in the machine's CPUs (``SKYRUN_LOCAL_CPUS`` overrides them).
Target: makespan <= 1.2x the ideal.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_home, machine  # noqa: E402


def sleep_for(seconds):
    """A job that sleeps."""
    import time

    time.sleep(seconds)
    return seconds


class Peaks:
    """Samples, every 100 ms, skyrun's processes under a home and their resident memory,
    and the running jobs of a Function."""

    def __init__(self, home: str, store, function_id: str):
        self.home, self.store, self.function_id = home, store, function_id
        self.processes = self.rss = self.running = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            count, rss = 0, 0
            for proc in psutil.process_iter(["cmdline", "memory_info"]):
                try:
                    cmdline = proc.info["cmdline"] or []
                    if not any(self.home in part for part in cmdline):
                        # executors are named by their bundle directory, under the home
                        continue
                    count += 1
                    rss += proc.info["memory_info"].rss
                except (psutil.Error, TypeError):
                    pass
            running = self.store.count_by_status([self.function_id]).get(
                self.function_id, {}).get("running", 0)
            self.processes = max(self.processes, count)
            self.rss = max(self.rss, rss)
            self.running = max(self.running, running)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cpus", type=float, default=0.25)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    from skyrun.backends.local.admission import capacity
    from skyrun.compute import Function, Job, JobStatus

    cap_cpus, cap_memory = capacity()
    with fresh_home(idle_seconds=5) as home:
        fn = Function(sleep_for, cpus=args.cpus, maximum_concurrency=args.jobs)
        fn.save()
        peaks = Peaks(home, fn._client.backend.store, fn.id)
        start = time.perf_counter()
        fn.map([args.seconds] * args.jobs)
        fn.wait_for_completion(interval=0.2, timeout=3600)
        makespan = time.perf_counter() - start
        peaks.close()
        memory = int(fn.memory)
        done = fn.jobs.filter(Job.status == JobStatus.SUCCESS).count()
        assert done == args.jobs, done
    admitted = min(args.jobs, int(cap_cpus / args.cpus + 1e-9), int(cap_memory // memory))
    ideal = math.ceil(args.jobs / admitted) * args.seconds
    print(f"capacity: {cap_cpus:g} CPUs, {cap_memory:,.0f} MB; admitted {admitted} jobs at once"
          f" (observed peak {peaks.running})")
    print(f"{args.jobs} jobs x {args.seconds:g} s: makespan {makespan:.1f} s, ideal {ideal:.0f} s,"
          f" ratio {makespan / ideal:.2f} (target <= 1.2)")
    print(f"peak: {peaks.processes} skyrun processes, {peaks.rss / 2**20:,.0f} MB resident")
    print(f"load average after: {psutil.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
