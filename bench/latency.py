"""One job from submit to result, with a warm worker and with no worker alive.

Targets: warm p50 <= 20 ms; cold (no worker alive) <= 500 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_home, machine  # noqa: E402


def echo(x):
    return x


def one(fn, x) -> float:
    from skyrun.compute import JobStatus

    store = fn._client.backend.store
    start = time.perf_counter()
    job = fn(x)
    while True:
        record = store.get_job(job.id)
        if record["status"] in ("success", "failure"):
            break
        time.sleep(0.001)
    job.refresh()
    assert job.status == JobStatus.SUCCESS and job.result() == x
    return time.perf_counter() - start


def percentiles(values):
    values = sorted(values)
    return statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--cold", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_home(idle_seconds=0.3):
        from skyrun.compute import Function

        fn = Function(echo, maximum_concurrency=1)
        fn.save()
        cold = []
        for i in range(args.cold):
            launcher = fn._client.backend.launcher
            while launcher.live_workers(fn.id):
                time.sleep(0.05)
            cold.append(one(fn, i))
        one(fn, -1)  # start a worker and its executor
        warm = [one(fn, i) for i in range(args.warm)]
    for label, values, target in (("warm worker", warm, 20), ("no worker alive", cold, 500)):
        p50, p95 = percentiles(values)
        print(f"{label}: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms over {len(values)} "
              f"jobs (target p50 <= {target} ms)")


if __name__ == "__main__":
    main()
