"""Search at 100,000 jobs on the embedded backend.

Inserts the jobs straight through the store (the only shortcut: submitting and running
100,000 jobs is not what is measured here), then times, through the public SDK,

- a filtered count: ``Job.status.in_([failure, timeout]) & (Job.runtime > 60)``;
- a sorted page: ``Job.search().sort(-Job.creation_date).limit(100)``;

and prints the figures with the query plans SQLite chose.

    python bench/search.py [--jobs 100000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="skyrun-bench-search-")
    os.environ["SKYRUN_HOME"] = home
    os.environ["SKYRUN_BACKEND"] = "local"

    from skyrun.auth import Auth
    from skyrun.backends.local import sql
    from skyrun.compute import ComputeClient, Function, Job, JobStatus
    from skyrun.compute.operations import new_job_record

    client = ComputeClient(auth=Auth(org="bench", user="search"))
    ComputeClient.set_default_client(client)
    store = client.backend.store
    functions = []
    for i in range(4):
        fn = Function("json.dumps", name=f"bench-{i}", auto_start=False)
        fn.save()
        functions.append(store.get_function(fn.id))

    rng = random.Random(42)
    terminal = ["success"] * 6 + ["failure", "timeout", "canceled"]
    start = time.perf_counter()
    t0 = time.time() - 30 * 86400
    batch = 1000
    for b in range(0, args.jobs, batch):
        reference_id = uuid.uuid4().hex
        records = []
        for i in range(min(batch, args.jobs - b)):
            fn = functions[(b + i) % len(functions)]
            created = t0 + (b + i) * 25.0 + rng.random()
            record = new_job_record(f"{reference_id}-{i:04d}", fn, reference_id, created,
                                    [b + i], None, None, [f"t{(b + i) % 10}"])
            status = rng.choice(terminal) if rng.random() < 0.95 else "pending"
            if status != "pending":
                runtime = int(rng.expovariate(1 / 40))
                record.update(status=status, execution_count=1, runtime=runtime,
                              exit_code=0 if status == "success" else 1,
                              last_execution_date=created + 1,
                              last_completion_date=created + 1 + runtime)
            else:
                record.update(runtime=None, exit_code=None, last_execution_date=None,
                              last_completion_date=None)
            records.append(record)
        store.insert_jobs(reference_id, records)
    inserted = time.perf_counter() - start

    failed_long = Job.search().filter(
        Job.status.in_([JobStatus.FAILURE, JobStatus.TIMEOUT]) & (Job.runtime > 60))
    newest = Job.search().sort(-Job.creation_date).limit(100)

    def timed(fn):
        fn()  # warm the page cache
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            value = fn()
            runs.append(time.perf_counter() - t)
        return value, statistics.median(runs) * 1000, min(runs) * 1000

    count, count_ms, count_best = timed(failed_long.count)
    page, page_ms, page_best = timed(lambda: list(newest))
    total = Job.search().count()

    # Check the answers against a plain scan, so the figures are for correct results.
    rows = store.db.connection().execute(
        "SELECT count(*) FROM jobs WHERE status IN ('failure','timeout') AND runtime > 60"
    ).fetchone()[0]
    assert count == rows, (count, rows)
    dates = [j.creation_date for j in page]
    assert len(page) == 100 and dates == sorted(dates, reverse=True)

    def plan(search, sort=(), limit=None):
        clause, params = sql.where(search._where(), set(store_columns()))
        order = sql.order_by(list(sort), set(store_columns()), "rowid")
        text = f"SELECT * FROM jobs WHERE {clause} {order}" + (f" LIMIT {limit}" if limit else "")
        return [r[3] for r in store.db.connection().execute("EXPLAIN QUERY PLAN " + text,
                                                              params)]

    def store_columns():
        from skyrun.backends.local.store import JOB_COLUMNS

        return JOB_COLUMNS

    print(f"jobs: {total:,} (inserted in {inserted:.1f} s through the store)")
    print(f"python {sys.version.split()[0]}, SQLite {__import__('sqlite3').sqlite_version}")
    print(f"filtered count  status in [failure, timeout] & runtime > 60: {count:,} matches, "
          f"median {count_ms:.1f} ms, best {count_best:.1f} ms")
    print(f"  plan: {'; '.join(plan(failed_long))}")
    print(f"sorted page     sort(-Job.creation_date).limit(100): median {page_ms:.1f} ms, "
          f"best {page_best:.1f} ms")
    print(f"  plan: {'; '.join(plan(newest, newest._sort, 100))}")
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
