"""A worker's CPU per no-op job, without the executor: one process, no other load.

The worker's own code for each job of ``throughput.py`` — the request to the executor
(job environment, arguments, pickle), the statistics document, and the settle of the job
with the claim of the next in one transaction (``Worker._settle`` →
``lifecycle.finish_attempt`` → ``SQLiteStore.settle_and_claim``) — run in a loop over
``-n`` jobs of a real SQLite file, with a made-up executor reply. Only the pipe round
trip and the executor are left out, so the figure moves little with the machine's load
and compares two versions of the code run one after the other (``--rounds`` alternated
with another checkout: run the script with its ``PYTHONPATH``).

``--profile FILE`` writes a cProfile (CPU time) of the last round; ``--trace`` prints the
SQL statements of one job.

    python bench/settle_cpu.py [-n 3000] [--rounds 3] [--profile FILE] [--trace]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402


def _function(namespace: str) -> dict:
    t = time.time()
    return {"id": uuid.uuid4().hex, "namespace": namespace, "owner": "user:bench",
            "name": "noop", "image": "python3.11:latest", "cpus": 1.0, "memory": 2048,
            "maximum_concurrency": 2, "timeout": 1800, "retry_count": 0, "enabled": True,
            "auto_start": True, "environment": {}, "status": "ready", "creation_date": t,
            "modified_date": t, "env_hash": "0" * 24, "python": "3.11",
            "requirements": [], "entrypoint": "main.noop", "compute_target": "auto"}


def one_round(folder: str, n: int, profile: str | None = None, trace: bool = False) -> float:
    """CPU seconds per job of the worker's per-job code over ``n`` jobs."""
    os.environ["SKYRUN_HOME"] = folder
    from skyrun.backends.local import LocalBackend
    from skyrun_runtime.stats import Sampler
    from skyrun_runtime.worker import Worker

    backend = LocalBackend(Path(folder))
    function = _function("bench:user")
    backend.store.create_function(function)
    reference = uuid.uuid4().hex
    t = time.time()
    backend.store.insert_jobs(reference, [{
        "id": f"{reference}-{i}", "function_id": function["id"],
        "namespace": function["namespace"], "reference_id": reference, "status": "pending",
        "args": [i], "kwargs": None, "environment": None, "tags": [], "creation_date": t,
        "execution_count": 0, "queued_date": t + i * 1e-6} for i in range(n)])
    worker = Worker(backend, function["id"], worker_id=f"bench-{os.getpid()}")
    held = worker.slots.for_claim(function)
    job = backend.store.claim(function["id"], worker.worker_id, 10.0, 1000, time.time(), held)
    from skyrun.engine.workerslots import Renewer

    renewer = Renewer(worker.slots)  # a slow round outlasts the slots' lease otherwise
    stop = backend.store.defer_checkpoints()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
    conn = backend.store.db.connection()
    statements: list[str] = []
    done = 0
    start = time.process_time()
    if profiler:
        profiler.enable()
    while job is not None:
        if trace and done == 2:
            conn.set_trace_callback(statements.append)
        # What run_job does around the executor's round trip for a no-op job (as this
        # version's worker does; an older one encoded the inputs again, a few us).
        claimed = time.time()
        request = {"job_id": job["id"], "args": job.get("args"), "kwargs": job.get("kwargs"),
                   "environment": worker._job_env(function, job)}
        pickle.dumps(request, protocol=4)
        reply = pickle.loads(pickle.dumps(
            {"started": claimed, "outcome": "success", "data": None, "attrs": {},
             "ended": claimed, "cpu_seconds": 0.00005, "rss": 15_000_000, "pull_time": 0.0},
            protocol=4))
        sampler = Sampler(lambda: 0)
        sampler.add(reply["rss"])
        stats = sampler.statistics(reply["cpu_seconds"], 0.0003, float(function["cpus"]),
                                   int(function["memory"]) * 2**20)
        worker.log_written = False
        worker._settle(function, job, "reply", reply, 0.0003, stats, claimed, False)
        job, function = worker.next_job, worker.function or function
        worker.next_job = worker.function = None
        done += 1
        if trace and done == 3:
            conn.set_trace_callback(None)
    elapsed = time.process_time() - start
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    stop()
    renewer.stop()
    worker.slots.release()
    assert done == n, done
    for s in statements:
        print("   ", s[:160] + (" ..." if len(s) > 160 else ""))
    return elapsed / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the last round here")
    parser.add_argument("--trace", action="store_true", help="print one job's SQL")
    args = parser.parse_args()
    import skyrun

    print(f"machine: {machine()}, load {os.getloadavg()[0]:.1f}; skyrun from "
          f"{Path(skyrun.__file__).parent.parent}")
    per_job = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="skyrun-bench-settle-") as folder:
            last = i == args.rounds - 1
            per_job.append(one_round(folder, args.n, args.profile if last else None,
                                     args.trace and last))
    print(f"{args.n:,} jobs a round; worker CPU per job without the executor: median "
          f"{statistics.median(per_job) * 1e6:.0f} us, least {min(per_job) * 1e6:.0f} us; "
          "rounds: "
          + ", ".join(f"{v * 1e6:.0f}" for v in per_job))
    return 0


if __name__ == "__main__":
    sys.exit(main())
