"""AWS requests of one reconciler tick, on a deployment of N finished Functions.

The reconciler (``skyrun_runtime.lambdas.reconcile``) runs once a minute. It used to look
at every Function of the deployment each tick, at about a dozen requests each, finished
or not. It now marks a Function it finds with no runnable or active job idle, and skips
it until jobs are added to it or rerun. The first tick over N finished Functions does
what every tick did before (it visits them all, and marks them); the ticks after it are
the cost now. Both are measured in one run, on the offline sandbox, counting every
request the tick's clients send.

    python bench/reconcile.py [--functions 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402


def _function(namespace: str) -> dict:
    t = time.time()
    return {"id": uuid.uuid4().hex, "namespace": namespace, "owner": "bench", "name": "fn",
            "image": "python3.11:latest", "cpus": 0.25, "memory": 512,
            "maximum_concurrency": 2, "timeout": 60, "retry_count": 0, "enabled": True,
            "auto_start": True, "environment": {}, "status": "ready", "creation_date": t,
            "modified_date": t, "env_hash": "bench", "python": "3.11", "requirements": [],
            "entrypoint": "mod:fn", "compute_target": "auto"}


def _jobs(function: dict, n: int) -> tuple[str, list[dict]]:
    ref = uuid.uuid4().hex
    t = time.time()
    return ref, [{"id": f"{ref}-{i:04d}", "function_id": function["id"],
                  "namespace": function["namespace"], "reference_id": ref, "args": [i],
                  "kwargs": {}, "environment": {}, "tags": [], "status": "pending",
                  "creation_date": t, "queued_date": t, "execution_count": 0}
                 for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=3, help="ticks after the first")
    args = parser.parse_args()

    from skyrun.sandbox import Sandbox

    with Sandbox(batch=False, codebuild=False, schedules=False,
                 lambda_workers=False) as sandbox:
        os.environ.update(sandbox.environment)
        from skyrun.backends.aws.backend import AwsBackend
        from skyrun_runtime import lambdas

        backend = AwsBackend.from_environment()
        counts: Counter = Counter()

        def count(event_name: str, **kwargs) -> None:
            service, operation = event_name.split(".")[-2:]
            counts[f"{service}.{operation}"] += 1

        namespace = f"bench:{uuid.uuid4().hex[:8]}"
        for _ in range(args.functions):
            function = _function(namespace)
            backend.store.create_function(function)
            ref, jobs = _jobs(function, 3)
            backend.store.insert_jobs(ref, jobs)
            for job in jobs:
                backend.store.update_job(job["id"], {"status": "success"})
        for service in ("dynamodb", "batch", "lambda"):
            backend.client(service).meta.events.register("before-send.*.*", count)

        print(f"# reconciler tick, {args.functions} finished Functions of 3 jobs each; "
              f"{machine()}; load average {os.getloadavg()[0]:.1f}")
        counts.clear()
        t = time.perf_counter()
        first = lambdas._reconcile(backend, {}, idle_after=0)
        first_s, first_n = time.perf_counter() - t, sum(counts.values())
        print(f"first tick (visits every Function, as every tick did before): "
              f"{first_n} requests, {first_s:.2f} s, {dict(counts)}; {first}")
        later = []
        for _ in range(args.ticks):
            counts.clear()
            t = time.perf_counter()
            result = lambdas._reconcile(backend, {}, idle_after=0)
            later.append((sum(counts.values()), time.perf_counter() - t, result))
        n, s, result = later[-1]
        print(f"later ticks (finished Functions marked idle): "
              f"{[x[0] for x in later]} requests, last {s:.2f} s, {dict(counts)}; {result}")
        print(f"ratio first/later: {first_n / max(n, 1):.1f}x fewer requests per tick")


if __name__ == "__main__":
    main()
