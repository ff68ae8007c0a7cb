"""AWS requests per job: N jobs end to end (submit, run, read every result) on the offline
sandbox, every request counted by service and operation.

Requests are counted at the clients with botocore's ``before-send`` event (so retries
count too), in every process that makes them: this one (the SDK), the Batch workers and
the Lambda handlers, through ``SKYRUN_COUNT_AWS_REQUESTS`` (see
``skyrun.backends.aws.session``). The sandbox's own stand-ins ask moto for what Batch and
CodeBuild would do themselves on AWS (a new job's definition, a build's settings); that
traffic is counted apart and left out of the figure.

Target (DESIGN.md): at most 4 requests per job.

DynamoDB writes are counted per item key too (``skyrun.backends.aws.writekeys``: every
item a request writes, a transaction's condition checks included, as DynamoDB bills
them): one key takes about 1,000 write units a second, and a transactional write costs 2,
so the busiest key's writes per job bound the jobs a second that the design can run
(issue 10 item 5 targets at most 0.05 writes per job on any single key).

``--target lambda`` runs the jobs twice in one sandbox, on a Function whose workers are
Batch jobs and on one whose workers are Lambda invocations (``compute_target``), and
prints the requests per job of each path side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

TARGET = 4.0
#: DynamoDB's write units per second on one key, and a transactional write's cost.
KEY_WCU_PER_SECOND = 1000
TRANSACTION_WCU = 2
KEY_TARGET = 0.05


def square(x):
    """A job with a result to read back."""
    return x * x


class Counts:
    """The request counts of every process, read from the counting directory."""

    def __init__(self, directory: str):
        self.directory = Path(directory)

    def _files(self) -> list[dict]:
        from skyrun.backends.aws.session import _RequestCounter

        if _RequestCounter._instance is not None:
            _RequestCounter._instance.save()  # this process's counts, up to now
        out = []
        for path in self.directory.glob("*.json"):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being replaced right now: the next read gets it
        return out

    def by_process(self) -> dict[str, Counter]:
        """Counts by kind of process: sdk, worker, a handler's name, other."""
        out: dict[str, Counter] = {}
        for data in self._files():
            out.setdefault(_kind(data), Counter()).update(data["counts"])
        return out

    def writes(self) -> Counter:
        """DynamoDB writes per item key, all processes together."""
        total: Counter = Counter()
        for data in self._files():
            total.update(data.get("writes") or {})
        return total

    def writers(self) -> dict[str, int]:
        """How many processes wrote each DynamoDB item key."""
        out: Counter = Counter()
        for data in self._files():
            out.update(k for k, n in (data.get("writes") or {}).items() if n)
        return dict(out)

    def total(self) -> Counter:
        """Counts of all processes together."""
        total: Counter = Counter()
        for counts in self.by_process().values():
            total.update(counts)
        return total


def _kind(data: dict) -> str:
    argv = data.get("argv") or []
    if data["pid"] == os.getpid():
        return "sdk"
    if argv and argv[0].endswith(os.path.join("skyrun_runtime", "worker.py")):
        return "worker"
    if argv[:1] == ["-c"] and len(argv) > 2 and argv[2].startswith("sandbox-"):
        return "lambda worker"  # the Lambda stand-in's invocation of the job handler
    if argv[:1] == ["-c"] and len(argv) > 1:
        return f"lambda {argv[1].rsplit('.', 1)[-1]}"
    return "other " + " ".join(argv[:2])


def _standin_counter() -> Counter:
    """Count the requests of the sandbox's stand-ins (boto3's default session here)."""
    import boto3

    boto3.setup_default_session()
    counts: Counter = Counter()

    def count(event_name: str, **kwargs) -> None:
        _, service, operation = event_name.split(".", 2)
        counts[f"{service}.{operation}"] += 1

    boto3.DEFAULT_SESSION.events.register("before-send", count)
    return counts


def run(n: int, concurrency: int, interval: float, idle: float,
        paths: tuple[str, ...] = ("batch",)) -> list[dict]:
    """Run the jobs once per path (``batch``, ``lambda``) in one sandbox."""
    count_dir = tempfile.mkdtemp(prefix="skyrun-requests-")
    os.environ["SKYRUN_COUNT_AWS_REQUESTS"] = count_dir
    os.environ["SKYRUN_WORKER_IDLE_SECONDS"] = str(idle)
    standins = _standin_counter()
    from skyrun.compute import ComputeClient
    from skyrun.sandbox import Sandbox

    counts = Counts(count_dir)
    with Sandbox() as sandbox:
        os.environ.update(sandbox.environment)
        ComputeClient.set_default_client(None)
        return [run_path(sandbox, counts, standins, path, n, concurrency, interval, idle)
                | {"count_dir": count_dir} for path in paths]


def run_path(sandbox, counts: Counts, standins: Counter, path: str, n: int,
             concurrency: int, interval: float, idle: float) -> dict:
    """N jobs of one Function whose workers are Batch jobs or Lambda invocations."""
    from skyrun.compute import Function

    # The API's default timeout (3,600 s) sends a Function to Batch; 60 s fits Lambda.
    settings = {"compute_target": "batch"} if path == "batch" else \
        {"compute_target": "lambda", "timeout": 60}
    workers = sandbox.batch if path == "batch" else sandbox.lambda_workers
    phases: list[tuple[str, Counter, float]] = []
    fn = Function(square, name=f"aws-requests-{path}", maximum_concurrency=concurrency,
                  **settings)
    fn.save()
    fn.wait_for_completion(interval=0.5)  # the build: not part of the jobs' cost
    time.sleep(1.5)  # the build handler's counts reach their file
    base = counts.total()
    base_writes = counts.writes()
    sdk_base = sum(counts.by_process().get("sdk", Counter()).values())
    standins.clear()
    start = time.perf_counter()

    def mark(name: str) -> None:
        phases.append((name, counts.total(), time.perf_counter() - start,
                       sum(counts.by_process().get("sdk", Counter()).values())))

    fn.map(range(n))
    mark("map()")
    fn.wait_for_completion(interval=interval)
    mark("wait_for_completion()")
    results = fn.results()
    mark("results()")
    elapsed = time.perf_counter() - start
    assert sorted(results) == [x * x for x in range(n)], "wrong results"
    # Workers poll until idle for `idle` seconds, then leave (and write their counts).
    deadline = time.monotonic() + idle + 120
    while workers.live() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.5)
    left = len(workers.live())
    mark("workers idle until they leave")
    final = Counter(phases[-1][1])
    final.subtract(base)
    writes = counts.writes()
    writes.subtract(base_writes)
    return {"path": path, "n": n, "elapsed": elapsed, "total": +final, "base": base,
            "writes": +writes, "writers": counts.writers(), "sdk_base": sdk_base,
            "phases": phases, "by_process": counts.by_process(),
            "standins": Counter(standins), "workers_left": left}


def report(r: dict) -> None:
    n, total = r["n"], r["total"]
    requests = sum(total.values())
    print(f"== {r['path']} path: workers are "
          + ("AWS Batch jobs" if r["path"] == "batch" else "Lambda invocations"))
    print(f"{n:,} jobs, submit to all results read: {r['elapsed']:.1f} s")
    print(f"AWS requests: {requests:,} = {requests / n:.2f} per job "
          f"(target <= {TARGET:g}: ratio {requests / n / TARGET:.2f})")
    print()
    print(f"{'service.operation':<40} {'requests':>10} {'per job':>9}")
    for op, c in sorted(total.items(), key=lambda kv: -kv[1]):
        if c:
            print(f"{op:<40} {c:>10,} {c / n:>9.3f}")
    print()
    print("by process (whole run, the build included):")
    for kind, c in sorted(r["by_process"].items()):
        print(f"  {kind:<28} {sum(c.values()):>10,}")
    print("by phase (other processes' counts lag up to 1 s; of which this process's, "
          "the SDK's):")
    previous, sdk_before = r["base"], r["sdk_base"]
    for name, c, t, sdk in r["phases"]:
        print(f"  {name:<30} at {t:7.1f} s  {sum(c.values()) - sum(previous.values()):>10,}"
              f"  sdk {sdk - sdk_before:>7,}")
        previous, sdk_before = c, sdk
    report_keys(r)
    s = r["standins"]
    print(f"sandbox stand-ins' requests to moto (not counted above): {sum(s.values()):,}  "
          + ", ".join(f"{k} {v:,}" for k, v in s.most_common()))
    if r["workers_left"]:
        print(f"warning: {r['workers_left']} workers had not left; their last second may be "
              "missing")


def report_keys(r: dict) -> None:
    """Writes per job on the busiest DynamoDB keys, and what the busiest implies."""
    from skyrun.backends.aws.writekeys import kind_of

    n, writes = r["n"], r["writes"]
    if not writes:
        print("no DynamoDB writes counted")
        return
    key, top = writes.most_common(1)[0]
    per_job = top / n
    ceiling = KEY_WCU_PER_SECOND / TRANSACTION_WCU / per_job
    print(f"DynamoDB writes: {sum(writes.values()):,} on {len(writes):,} keys; busiest key "
          f"{key!r}: {top:,} = {per_job:.3f} writes per job (target <= {KEY_TARGET:g}) "
          f"-> at most {ceiling:,.0f} jobs/s per key at {KEY_WCU_PER_SECOND:,} WCU/s, "
          f"{TRANSACTION_WCU} WCU a write")
    # A key that only one process writes (a worker's own slot) is bounded by that
    # worker's pace, whatever the namespace runs; a key several processes write is
    # what caps the namespace.
    shared = Counter({k: c for k, c in writes.items() if r["writers"].get(k, 0) > 1})
    if shared:
        skey, stop = shared.most_common(1)[0]
        print(f"busiest key written by more than one process {skey!r}: {stop:,} = "
              f"{stop / n:.3f} writes per job -> at most "
              f"{KEY_WCU_PER_SECOND / TRANSACTION_WCU / (stop / n):,.0f} jobs/s")
    print("busiest keys (writes per job, processes writing it):")
    for k, c in writes.most_common(6):
        print(f"  {k:<70} {c:>8,} {c / n:>8.3f} {r['writers'].get(k, 0):>3}")
    kinds: dict[str, list[int]] = {}
    for k, c in writes.items():
        kinds.setdefault(kind_of(k), []).append(c)
    print("by kind of key: keys, writes per job in all, on the busiest key of the kind:")
    for kind, cs in sorted(kinds.items(), key=lambda kv: -max(kv[1])):
        print(f"  {kind:<50} {len(cs):>7,} {sum(cs) / n:>8.3f} {max(cs) / n:>8.3f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10_000, help="jobs (default 10,000)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="the Function's maximum_concurrency: workers (default 2)")
    parser.add_argument("--interval", type=float, default=10,
                        help="wait_for_completion's polling interval (default 10 s, the "
                             "API's default)")
    parser.add_argument("--idle", type=float, default=60,
                        help="SKYRUN_WORKER_IDLE_SECONDS (default 60, the default)")
    parser.add_argument("--target", choices=("batch", "lambda"), default="batch",
                        help="where workers run: batch (default), or lambda, which runs the "
                             "Batch path too, in the same sandbox, and prints both")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    paths = ("batch",) if args.target == "batch" else ("batch", "lambda")
    results = run(args.n, args.concurrency, args.interval, args.idle, paths)
    for r in results:
        report(r)
        print()
    if len(results) > 1:
        print("requests per job: " + ", ".join(
            f"{r['path']} {sum(r['total'].values()) / r['n']:.2f}" for r in results))


if __name__ == "__main__":
    main()
