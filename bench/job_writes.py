"""What a job's two hot-path writes cost on the jobs table before and after schema
migration 5 (the measured numbers as columns beside the statistics, the timeline's
partial index).

The same store code claims and settles ``-n`` jobs (a no-op job's claim: status, worker,
lease, start; its settle: status, end, runtime and a statistics document like a
worker's) on two files, one with the schema of migrations 1-4 and one with every
migration, alternately, ``--rounds`` times each, and prints the median CPU time per job.
Each write is its own transaction here (the worker joins a settle and the next claim in
one), so the figure is the table's share of the cost, not the worker's whole.

    python bench/job_writes.py [-n 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

#: About what a worker records for a short job: a few samples of CPU and memory.
STATISTICS = {
    "cpu": {"time": 12_000_000, "total": 48.5,
            "timeseries": [[0.0, 40.1], [0.5, 55.2], [1.0, 50.3]]},
    "memory": {"peak_bytes": 52_428_800, "peak_percentage": 2.5, "total_bytes": 41_943_040,
               "total_percentage": 2.0, "timeseries": [[0.0, 41943040], [0.5, 52428800]]},
    "network": {"bytes_sent": 0, "bytes_received": 0},
}


def make_store(folder: Path, migrations: int):
    """A store on a new file with the first ``migrations`` schema steps applied."""
    from skyrun.backends.local.database import MIGRATIONS, STAT_COLUMNS, Database
    from skyrun.backends.local.store import SQLiteStore

    path = folder / f"v{migrations}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for step in MIGRATIONS[:migrations]:
        conn.executescript(step)
    # Marked current so that opening it migrates nothing: the older schema stays.
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    if migrations < 5:  # the store writes the measured numbers' columns: give them a home
        for column in STAT_COLUMNS:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    conn.close()
    return SQLiteStore(Database(path))


def one_round(store, n: int, tag: str) -> float:
    """CPU seconds per job to claim and settle ``n`` new jobs."""
    from skyrun.compute.operations import new_job_record
    from skyrun.domain import transitions

    function = {"id": f"f-{tag}", "namespace": "bench", "maximum_concurrency": 2,
                "environment": {}}
    reference = f"r-{tag}"
    t = time.time()
    records = [new_job_record(f"{reference}-{i:05d}", function, reference, t, [i], None,
                              None, None) for i in range(n)]
    store.insert_jobs(reference, records)
    start = time.process_time()
    for record in records:
        now = time.time()
        claim = transitions.claim("w1", now, 10.0)
        store.update_job(record["id"], claim.changes, expect=claim.expect)
        store.update_job(record["id"], {
            "status": "success", "worker_id": None, "lease_expires": None,
            "last_completion_date": now + 0.001, "runtime": 0, "exit_code": 0,
            "statistics": STATISTICS}, expect={"status": "running", "worker_id": "w1"})
    return (time.process_time() - start) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from skyrun.backends.local.database import MIGRATIONS

    with tempfile.TemporaryDirectory(prefix="skyrun-bench-writes-") as folder:
        stores = {"migrations 1-4": make_store(Path(folder), 4),
                  f"migrations 1-{len(MIGRATIONS)}": make_store(Path(folder), len(MIGRATIONS))}
        per_job: dict[str, list[float]] = {name: [] for name in stores}
        for i in range(args.rounds):  # alternately, so that both see the same load
            for name, store in stores.items():
                per_job[name].append(one_round(store, args.n, f"{i}-{len(per_job[name])}"))
    print(f"machine: {machine()}, SQLite {sqlite3.sqlite_version}")
    print(f"{args.n:,} jobs a round, {args.rounds} rounds each; CPU per job (claim + settle)")
    medians = {}
    for name, values in per_job.items():
        medians[name] = statistics.median(values)
        print(f"  {name:16s} median {medians[name] * 1e6:7.1f} us   rounds: "
              + ", ".join(f"{v * 1e6:.0f}" for v in values))
    old, new = medians.values()
    print(f"ratio new / old: {new / old:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
