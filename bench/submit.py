"""``map()`` of 100,000 jobs on the embedded backend: seconds and the SDK's peak memory.

Targets: at most 1 s and 200 MB. The Function is not started (auto_start=False), so the
figure is the submission alone. Beside it, in the same run: a bare ``executemany`` of as
many rows of the same shape into skyrun's own schema, the floor of any submission. The
two alternate ``--repeat`` times (each in a fresh database), since a shared machine's
disk and cores change speed from one second to the next.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_home, machine, noop  # noqa: E402


def bare_insert_seconds(n: int) -> float:
    """Seconds to insert ``n`` job rows (id, inputs as JSON text, dates) in one
    ``executemany``, the table and indexes being skyrun's."""
    from skyrun.backends.local.database import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"{tmp}/bare.sqlite")
        start = time.perf_counter()
        t = time.time()
        rows = [(f"ref-{i}", "f", "o:u", "ref", "pending", json.dumps([i]), "{}", t, 0, t)
                for i in range(n)]
        with db.transaction() as tx:
            tx.executemany("INSERT INTO jobs (id, function_id, namespace, reference_id, "
                           "status, args, kwargs, creation_date, execution_count, "
                           "queued_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return time.perf_counter() - start


def map_seconds(n: int) -> tuple[float, float, float]:
    """``map()`` of ``n`` jobs in a fresh home: seconds, the process's peak RSS before and
    after it (MB)."""
    with fresh_home():
        from skyrun.compute import Function

        fn = Function(noop, auto_start=False)
        fn.save()
        items = [[i] for i in range(n)]
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        jobs = fn.map(items)
        elapsed = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert len(jobs) == n and fn.jobs.count() == n
        return elapsed, rss_before, rss_after


def allocations_mb(n: int) -> float:
    """Peak of the Python allocations during ``map()`` of ``n`` jobs (tracemalloc)."""
    with fresh_home():
        from skyrun.compute import Function

        fn = Function(noop, auto_start=False)
        fn.save()
        items = [[i] for i in range(n)]
        tracemalloc.start()
        fn.map(items)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="map() and the bare insert alternated this many times, each in "
                             "a fresh database (medians are printed)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    maps, bares = [], []
    rss_before = rss_after = 0.0
    for i in range(args.repeat):
        elapsed, before, after = map_seconds(args.n)
        if i == 0:  # the process's peak: the first map() is the one that sets it
            rss_before, rss_after = before, after
        bare = bare_insert_seconds(args.n)
        maps.append(elapsed)
        bares.append(bare)
        print(f"  run {i + 1}: map() {elapsed:.2f} s, bare executemany {bare:.2f} s, "
              f"ratio {elapsed / bare:.2f}")
    peak = allocations_mb(10_000)
    elapsed, bare = statistics.median(maps), statistics.median(bares)
    ratio = statistics.median(m / b for m, b in zip(maps, bares, strict=True))
    print(f"map() of {args.n:,} jobs: {elapsed:.2f} s ({args.n / elapsed:,.0f} jobs/s; "
          f"target <= 1 s), median of {args.repeat}")
    print(f"process peak RSS: {rss_after:.0f} MB (before map: {rss_before:.0f} MB; "
          f"target <= 200 MB)")
    print(f"Python allocations during map() of 10,000 jobs: {peak:.1f} MB peak")
    print(f"bare executemany of {args.n:,} rows of the same shape: {bare:.2f} s; "
          f"ratio map() / bare: {ratio:.2f} (median of the runs' ratios)")


if __name__ == "__main__":
    main()
