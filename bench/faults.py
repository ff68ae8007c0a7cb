"""N jobs with ``retry_count=0`` on the offline sandbox, without faults and then with a
share of AWS requests failing as AWS fails (``skyrun sandbox --faults``), in one run.

For each pass it checks what must hold under faults (every job ``success``, exactly one
result blob and one log blob each, ``execution_count == 1`` for every job whose attempt
was never interrupted, no job left active, no worker left behind) and
prints the faults injected (each one a request the client retried), the jobs requeued
and the wall time against the pass without faults.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

DEFAULT_FAULTS = "throttle=0.05,conflict=0.05,5xx=0.02,lost-response=0.01"


def square(x):
    """A job with a result to read back."""
    return x * x


def check(sandbox, fn, n: int) -> dict:
    """The invariants of a finished run, and its figures; AssertionError if one fails."""
    from skyrun.common.joblog import log_blob_id
    from skyrun.compute import JobStatus

    backend = fn._client.backend
    jobs = list(fn.jobs)
    assert len(jobs) == n, f"{len(jobs)} jobs instead of {n}"
    bad = [(j.id, j.status, j.error_reason) for j in jobs if j.status != JobStatus.SUCCESS]
    assert not bad, f"{len(bad)} jobs did not succeed: {bad[:5]}"
    assert sorted(fn.results()) == sorted(x * x for x in range(n)), "wrong results"
    s3 = sandbox.client("s3")
    bucket = backend.blobs.bucket
    ns = fn.namespace

    def objects(prefix: str) -> list[str]:
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    results = objects(f"compute/{ns}/{fn.id}/")
    logs = objects(f"logs/{ns}/{fn.id}/")
    ids = sorted(j.id for j in jobs)
    assert sorted(k.rsplit("/", 1)[1] for k in results) == ids, "not one result blob per job"
    # A job that printed nothing has an empty log blob: a record without an S3 object.
    assert set(k.rsplit("/", 1)[1] for k in logs) <= set(ids), "a stray log object"
    missing = [j.id for j in jobs if backend.blobs.get_record(
        log_blob_id(ns, fn.id, j.id)) is None]
    assert not missing, f"{len(missing)} jobs without a log blob: {missing[:5]}"
    requeued = [j for j in jobs if j.execution_count != 1]
    store = backend.store
    # Active jobs by status, and the namespace slots still held (an idle worker gives
    # its namespace slot back at once; its Function slot when it leaves).
    counts = store.count_by_status([fn.id])[fn.id]
    counters = {"function": sum(counts.get(s, 0) for s in ("running", "cancel", "canceling")),
                "namespace": len(store.slot_holders("namespace", ns, time.time()))}
    return {"jobs": n, "requeued": len(requeued),
            "execution_counts": sorted({j.execution_count for j in jobs}),
            "counters": counters}


def one_pass(sandbox, n: int, concurrency: int, label: str) -> dict:
    from skyrun.compute import Function

    fn = Function(square, name=f"faults-{label}", maximum_concurrency=concurrency,
                  retry_count=0)
    fn.save()
    fn.wait_for_completion(interval=0.5)  # the build
    start = time.perf_counter()
    fn.map(range(n))
    fn.wait_for_completion(interval=1)
    elapsed = time.perf_counter() - start
    figures = check(sandbox, fn, n)
    deadline = time.monotonic() + 180
    while sandbox.batch.live() and time.monotonic() < deadline:
        time.sleep(0.5)
    figures["workers_left"] = len(sandbox.batch.live())
    figures["elapsed"] = elapsed
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500, help="jobs per pass (default 500)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--faults", default=DEFAULT_FAULTS)
    parser.add_argument("--idle", type=float, default=5, help="SKYRUN_WORKER_IDLE_SECONDS")
    parser.add_argument("--faults-only", action="store_true",
                        help="skip the pass without faults (on a machine too busy for both)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    os.environ["SKYRUN_WORKER_IDLE_SECONDS"] = str(args.idle)
    from skyrun.compute import ComputeClient
    from skyrun.sandbox import Sandbox

    with Sandbox(schedule_seconds=5,
                 environment={"SKYRUN_WORKER_IDLE_SECONDS": str(args.idle)}) as sandbox:
        os.environ.update(sandbox.environment)
        ComputeClient.set_default_client(None)
        clean = None
        if not args.faults_only:
            clean = one_pass(sandbox, args.n, args.concurrency, "none")
            print(f"without faults: {clean}", flush=True)
        with sandbox.injected_faults(args.faults) as report:
            faulty = one_pass(sandbox, args.n, args.concurrency, "faults")
            injected = report()
        print(f"with faults {args.faults}: {faulty}")
    print(f"requests: {injected['requests']:,}; faults injected (requests retried): "
          f"{sum(injected['injected'].values()):,} {injected['injected']}")
    top = sorted(injected["by_operation"].items(), key=lambda kv: -kv[1])[:8]
    print("  most hit: " + ", ".join(f"{k} {v}" for k, v in top))
    print(f"jobs requeued: {faulty['requeued']}")
    if clean is not None:
        print(f"wall time: {faulty['elapsed']:.1f} s against {clean['elapsed']:.1f} s without "
              f"faults, ratio {faulty['elapsed'] / clean['elapsed']:.2f}")
    else:
        print(f"wall time: {faulty['elapsed']:.1f} s")


if __name__ == "__main__":
    main()
