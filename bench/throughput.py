"""10,000 no-op jobs from submit to all results read, embedded backend, 2 workers, beside
``concurrent.futures.ProcessPoolExecutor(2)`` in the same run.

Target: skyrun's jobs/s at least 0.5x the pool's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_home, machine, noop  # noqa: E402


def pool_rate(n: int) -> float:
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        results = list(pool.map(noop, range(n)))
    assert len(results) == n
    return n / (time.perf_counter() - start)


def skyrun_rate(n: int) -> float:
    from skyrun.compute import Function, Job, JobStatus

    fn = Function(noop, maximum_concurrency=2)
    fn.save()
    start = time.perf_counter()
    fn.map(range(n))
    fn.wait_for_completion(interval=0.05)
    results = fn.results()
    elapsed = time.perf_counter() - start
    done = fn.jobs.filter(Job.status == JobStatus.SUCCESS).count()
    assert len(results) == n and done == n, (len(results), done)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    pool = pool_rate(args.n)
    print(f"ProcessPoolExecutor(2): {args.n} no-op tasks, {pool:,.0f} tasks/s")
    with fresh_home():
        ours = skyrun_rate(args.n)
    print(f"skyrun embedded, 2 workers: {args.n} no-op jobs, {ours:,.0f} jobs/s")
    print(f"ratio skyrun / pool: {ours / pool:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
