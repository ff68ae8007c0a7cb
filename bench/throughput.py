"""10,000 no-op jobs from submit to all results read, embedded backend, 2 workers, beside
``concurrent.futures.ProcessPoolExecutor(2)`` in the same run.

Target: skyrun's jobs/s at least 0.5x the pool's. Also prints the floor of the design: two
processes doing nothing but claim + settle transactions on a jobs table of the same shape
(skyrun's own schema), one transaction per job as skyrun's workers do.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sqlite3
import sys
import tempfile
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


def _claim_settle_loop(path: str, worker: str, counts) -> None:
    # A worker with nothing to run: settle the last job and claim the next in one write.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=60000")
    last, done = None, 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        if last is not None:
            conn.execute("UPDATE jobs SET status = 'success', worker_id = NULL, "
                         "lease_expires = NULL, last_completion_date = ? WHERE id = ? "
                         "AND status = 'running' AND worker_id = ?", (time.time(), last, worker))
            done += 1
        row = conn.execute(
            "UPDATE jobs SET status = 'running', worker_id = ?, lease_expires = ?, "
            "execution_count = execution_count + 1, last_execution_date = ? WHERE seq = "
            "(SELECT seq FROM jobs WHERE function_id = 'f' AND status = 'pending' "
            "ORDER BY queued_date LIMIT 1) RETURNING id",
            (worker, time.time() + 10, time.time())).fetchone()
        conn.execute("COMMIT")
        if row is None:
            break
        last = row[0]
    counts.put(done)


def sqlite_floor_rate(n: int) -> float:
    """Jobs/s of two processes doing only claim + settle transactions."""
    from skyrun.backends.local.database import Database

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/floor.sqlite"
        db = Database(path)
        t = time.time()
        with db.transaction() as tx:
            tx.executemany(
                "INSERT INTO jobs (id, function_id, namespace, status, args, kwargs, "
                "creation_date, execution_count, queued_date) VALUES (?, 'f', 'o:u', "
                "'pending', '[]', '{}', ?, 0, ?)", ((f"j-{i}", t, t + i * 1e-6)
                                                   for i in range(n)))
        counts = multiprocessing.Queue()
        start = time.perf_counter()
        procs = [multiprocessing.Process(target=_claim_settle_loop, args=(path, w, counts))
                 for w in ("a", "b")]
        for p in procs:
            p.start()
        done = counts.get() + counts.get()
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join()
    assert done == n, done
    return n / elapsed


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
    floor = sqlite_floor_rate(args.n)
    print(f"bare SQLite, 2 processes, claim + settle transactions only: {floor:,.0f} jobs/s; "
          f"ratio floor / pool: {floor / pool:.2f}, skyrun / floor: {ours / floor:.2f}")


if __name__ == "__main__":
    main()
